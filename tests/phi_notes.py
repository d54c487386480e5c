"""The synthetic clinical-note set the PHI scanner is measured on (tests/fixtures/phi_notes.jsonl).

Every identifier is invented and written in place with its kind, `<<KIND:text>>`, so the gold spans
are the marks themselves (medft.data.phi_eval.parse_marked). Notes are built from sentence templates
with a seeded generator, plus hand-written notes; each templated note also carries sentences with
no PHI that look like it (doses 5/325 mg, pressures 120/80, scales 7/10, counts 3/14 cores,
eponyms, relatives without names), so precision is measured on the text a note really holds.

Regenerate the fixture after editing this file (a test checks the two agree):
    PYTHONPATH=. python tests/phi_notes.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "phi_notes.jsonl"

FIRST = [
    "Amara",
    "Tomasz",
    "Keiko",
    "Rafael",
    "Ingrid",
    "Dmitri",
    "Leilani",
    "Oluwaseun",
    "Priya",
    "Henrik",
    "Mary",
    "John",
    "Anne",
    "Carlos",
    "Fatima",
    "Wei",
    "Siobhan",
    "Mateo",
    "Grace",
    "Yusuf",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castellanos",
    "Nakamura",
    "Abernathy",
    "Kowalczyk",
    "Haddad",
    "Smith",
    "O'Brien",
    "Nguyen",
    "Fitzgerald",
    "Rossi",
    "Adeyemi",
    "Johansson",
    "McAllister",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
STREETS = ["Oak", "Maple", "Elm", "Harbor View", "Washington", "Cedar Ridge", "Main", "Lincoln", "42nd", "Pleasant"]
SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd.", "Lane", "Drive", "Court", "Boulevard", "Way"]
CITIES = [
    ("Boston", "MA", "02115"),
    ("Springfield", "IL", "62704"),
    ("Portland", "OR", "97205"),
    ("Ann Arbor", "MI", "48104"),
    ("Austin", "TX", "78701"),
    ("San Diego", "CA", "92103"),
    ("Burlington", "VT", "05401"),
    ("Madison", "WI", "53703"),
]
RELATIVES = ["daughter", "son", "wife", "husband", "sister", "brother", "mother", "granddaughter", "partner"]
# Area codes in service: a made-up one (598) is not a phone number to phonenumbers, which presidio uses.
AREA_CODES = [212, 213, 305, 312, 404, 415, 503, 602, 617, 704, 713, 808, 919, 206, 303, 720]
DIAGNOSES = ["CHF", "COPD", "type 2 diabetes", "sepsis", "atrial fibrillation", "a hip fracture", "pneumonia"]


def _values(rng: random.Random) -> dict:
    city, state, zip_code = rng.choice(CITIES)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    return {
        "first": rng.choice(FIRST),
        "first2": rng.choice(FIRST),
        "last": rng.choice(LAST),
        "title": rng.choice(["Dr.", "Mr.", "Mrs.", "Ms.", "Dr"]),
        "relative": rng.choice(RELATIVES),
        "dx": rng.choice(DIAGNOSES),
        "young_age": rng.randint(20, 88),
        "old_age": rng.randint(90, 104),
        "m": month,
        "d": day,
        "mm": f"{month:02d}",
        "dd": f"{day:02d}",
        "yyyy": rng.randint(1930, 2024),
        "m2": rng.randint(1, 12),
        "d2": rng.randint(1, 28),
        "month": rng.choice(MONTHS),
        "mon": rng.choice(["Jan", "Feb", "Mar", "Apr", "Aug", "Sept", "Oct", "Nov", "Dec"]),
        "area": rng.choice(AREA_CODES),
        "ex": rng.randint(200, 999),
        "line": rng.randint(1000, 9999),
        "ext": rng.randint(10, 9999),
        "user": f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower().strip(chr(39))}",
        "host": rng.choice(["example.org", "mail.example.com", "clinic-example.net"]),
        "num": rng.randint(1, 9999),
        "street": rng.choice(STREETS),
        "suffix": rng.choice(SUFFIXES),
        "unit": rng.choice(["Apt 4B", "Unit 12", "Suite 300", "#7"]),
        "city": city,
        "state": state,
        "zip": zip_code,
        "box": rng.randint(10, 99999),
        "ip4": ".".join(str(rng.randint(1, 254)) for _ in range(4)),
        "ip6": ":".join(f"{rng.randint(0, 65535):x}" for _ in range(3)),
        "mrn": rng.randint(10**6, 10**8),
        "acct": f"{rng.choice(['A', 'AC', 'BX'])}{rng.randint(10**4, 10**7)}",
        "ssn": f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        "lic": f"{rng.choice('DFKLMS')}{rng.randint(10**6, 10**8)}",
        "mimic": rng.randint(100, 9999),
        "mdate": f"{rng.randint(2100, 2190)}-{rng.randint(1, 12)}-{rng.randint(1, 28)}",
    }


# Sentences that carry PHI; each <<KIND:...>> is one gold span.
PHI_TEMPLATES = [
    "{title} <<NAME:{last}>> saw the patient today.",
    "Pt <<NAME:{first} {last}>> is a {young_age} yo with {dx}.",
    "Patient: <<NAME:{last}, {first}>>",
    "Patient Name: <<NAME:{first} {last}>>",
    "Spoke with her {relative} <<NAME:{first2}>> by phone.",
    "Discussed the plan with the patient's {relative}, <<NAME:{first2} {last}>>.",
    "Referred by Dr. <<NAME:{last}>> for {dx}.",
    "The patient, <<NAME:{first} {last}>>, consented to the procedure.",
    "Admitted <<DATE:{m}/{d}/{yyyy}>> with {dx}.",
    "Seen in clinic on <<DATE:{m}/{d}>>, doing well.",
    "Symptoms began <<DATE:{m}/{d}>> and worsened by <<DATE:{m2}/{d2}>>.",
    "Last colonoscopy <<DATE:{month} {d}, {yyyy}>>.",
    "Follow up on <<DATE:{month} {d}>> with labs.",
    "Surgery is planned for <<DATE:{d} {month}>>.",
    "DOB: <<DATE:{mm}/{dd}/{yyyy}>>",
    "Echo done <<DATE:{yyyy}-{mm}-{dd}>>.",
    "Call back at <<PHONE:({area}) {ex}-{line}>> with results.",
    "Cell <<PHONE:{area}-{ex}-{line}>>, work <<PHONE:{area}.{ex}.{line} ext. {ext}>>.",
    "Fax: <<FAX:{area}-{ex}-{line}>> for records.",
    "Email results to <<EMAIL:{user}@{host}>>.",
    "Images are at <<URL:https://pacs.{host}/study/{mrn}>>.",
    "Home monitor at <<IP:{ip4}>> stopped reporting.",
    "Portal login came from <<IP:2001:db8::{ip6}>>.",
    "Lives at <<ADDRESS:{num} {street} {suffix}, {city}, {state} {zip}>>.",
    "Home address: <<ADDRESS:{num} {street} {suffix} {unit}>>.",
    "Moved to <<ADDRESS:{city}, {state} {zip}>> last year.",
    "Mail to <<ADDRESS:P.O. Box {box}>>.",
    "MRN: <<MRN:{mrn}>>.",
    "Medical record number <<MRN:{mrn}>> confirmed with two identifiers.",
    "Account # <<ACCOUNT:{acct}>> billed.",
    "SSN <<ID:{ssn}>> on file.",
    "Driver's license: <<ID:{lic}>>.",
    "A <<AGE:{old_age}>> year old woman with {dx}.",
    "Prior note <<MIMIC:[**Known lastname {mimic}**]>> dated <<MIMIC:[**{mdate}**]>> reviewed.",
]

# Sentences without PHI whose numbers and words look like it (written before the scanner was tuned).
NEGATIVES = [
    "Percocet 5/325 mg 1 tab PO q6h PRN pain.",
    "BP 128/76, HR 88, RR 16, SpO2 97% on RA.",
    "Grade 2/6 systolic murmur at the left sternal border.",
    "Strength 5/5 in all extremities, reflexes 2+ bilaterally.",
    "Rates pain 7/10, improved to 3/10 after morphine.",
    "Prostate biopsy: 3/14 cores positive, Gleason 3+4=7.",
    "Take 1/2 tablet at bedtime.",
    "Vision 20/40 OU.",
    "Pathology: 2/12 lymph nodes positive.",
    "pH 7.35-7.45, lactate 2.1, Na 138, K 4.1, Cr 1.02.",
    "Ejection fraction 55-60%. QTc 440 ms.",
    "Family history: Mother alive with hypertension, father deceased at 70 of MI.",
    "Son at bedside, daughter updated by phone.",
    "Patient Education: medication side effects reviewed.",
    "Patient tolerated the procedure well.",
    "Pt Seen and examined at 10:30.",
    "Started metformin 500 mg BID in 2019.",
    "A 72 year old man with COPD.",
    "Hgb 9.8, plt 250, WBC 11.2 on day 3.",
    "History of Parkinson disease, Crohn disease and Hodgkin lymphoma in remission.",
    "I:E ratio 1:2, PEEP 5, FiO2 0.40.",
    "C5-C6 disc herniation; L4/L5 stenosis.",
    "Dose increased from 2.5 to 5 mg; INR 2.3.",
    "GCS 15, Apgars 8/9.",
    "Supervision 24/7 required at home.",
    "ECG: sinus rhythm, 1st degree AV block, ST depression in V4-V6.",
    "Received 2 units PRBC overnight.",
    "Follow up in 2-3 weeks with cardiology.",
    "Blood pressure goal below 130/80.",
    "Drink 1/2 gallon of water a day.",
    "HIV 1/2 antibody negative.",
    "St. John's wort discontinued.",
    "Lives with wife in a two-story home.",
    "Temp 98.6 F, weight 82.5 kg, BMI 27.1.",
    "Monitor alarm at 10:30:45, rhythm strip reviewed.",
    "Placed a 12 Fr Foley catheter.",
    "Insulin glargine 10 units at 9 PM.",
    "May need repeat imaging in 6 months.",
    "Wound 3 x 2 cm, healing well.",
    "Oxygen weaned from 2 L to room air.",
]

# Written by hand, not from the templates above.
HAND_WRITTEN = [
    "CC: chest pain. HPI: <<NAME:Maria Lopez>> is a 67 yo F seen <<DATE:3/14>> for exertional chest pain. "
    "BP 142/88. Troponin negative x2. Daughter <<NAME:Elena>> at bedside. Plan: stress test, "
    "aspirin 81 mg daily, f/u <<DATE:4/2>>.",
    "Discharge summary. Patient: <<NAME:Whitaker, James>>. MRN <<MRN:00872145>>. Admitted <<DATE:01/03/2023>>, "
    "discharged <<DATE:01/09/2023>>. Lives at <<ADDRESS:88 Beacon Street, Boston, MA 02108>> with his wife "
    "<<NAME:Joan>>. Oxycodone/APAP 5/325 mg q6h PRN, pain 4/10 at discharge.",
    "Telehealth visit. Connection from <<IP:73.162.44.9>> dropped twice. Pt <<NAME:Samuel Osei>> reports "
    "strength 4/5 in the left arm, unchanged. Next visit <<DATE:June 3>>.",
    "Urology: PSA 6.2. TRUS biopsy with 3/14 cores positive (Gleason 3+4). Discussed with patient and his "
    "son <<NAME:David>>, who can be reached at <<PHONE:(503) 555-0187>>.",
    "Social work: the patient lives alone at <<ADDRESS:1412 Harbor View Drive Apt 2C>>, <<ADDRESS:Portland, OR 97209>>. "
    "Her brother <<NAME:Tom>> visits weekly. Contact <<EMAIL:tom.b@example.net>>.",
    "Cardiology consult requested by Dr. <<NAME:Feldman>>. 2/6 holosystolic murmur at apex, EF 35%, "
    "BP 118/72. Echo repeated <<DATE:Sept 12th>>.",
    "Nursing: Pt resting comfortably. Husband <<NAME:Raj>> called at 21:15, updated. Vitals stable, "
    "pain 2/10. Insulin sliding scale per protocol.",
    "Geriatrics: <<AGE:93>> yo man, MMSE 22/30. Patient Name: <<NAME:Arthur Bell>>. Granddaughter "
    "<<NAME:Chloe>> is the health care proxy.",
    "Billing: Account # <<ACCOUNT:BX7781203>>, policy # <<ACCOUNT:HMO44821>>. Statement sent to "
    "<<ADDRESS:P.O. Box 4471>>.",
    "Oncology follow-up <<DATE:11/30>>. Cycle 3 of FOLFOX, dose reduced to 3/4 of the original. "
    "ANC 1.8, plt 110. Portal message from <<EMAIL:jpark77@example.com>>.",
    "ED triage: <<AGE:91>> year old female, fall at home. Address on file: <<ADDRESS:7 Elm Ct, Burlington, VT 05401>>. "
    "GCS 15. Her friend <<NAME:Dolores>> found her.",
    "Psychiatry: PHQ-9 score 14. Patient: <<NAME:Nguyen, Linh>>. Lives with partner <<NAME:Sam>>. "
    "Sertraline 50 mg daily, recheck in 4-6 weeks.",
    "Remote patch monitor (device IP <<IP:10.14.2.201>>) showed 3 runs of NSVT. "
    "Pt <<NAME:Henry Walsh>> asymptomatic. BP 130/84.",
    "Pre-op: Pt <<NAME:Olga Petrova>>, DOB <<DATE:07/22/1951>>. Surgery <<DATE:14 March>>. "
    "NPO after midnight, hold metformin. Mallampati 2, ASA 3.",
    "Peds: 6 yo with otitis media, amoxicillin 90 mg/kg/day divided BID. Mother <<NAME:Keisha>> "
    "prefers calls at <<PHONE:312-555-0143>>. Growth 50th percentile.",
]

# Written by hand after the scanner's patterns were settled, and never tuned on: the bench reports
# these notes on their own as well, a less flattering and more honest figure.
HELD_OUT = [
    "Ms. <<NAME:Delgado>> called from her niece's home, <<ADDRESS:230 Sycamore Ln, Tucson, AZ 85719>>. "
    "She ran out of lisinopril 10 mg on <<DATE:8/21>>. BP today 150/92.",
    "Nephrology: Cr 2.4 (baseline 1.6), K 5.3. Renal US <<DATE:Feb 3, 2022>>. Plan HD access. "
    "Pt's husband, <<NAME:Victor>>, asked for a call at <<PHONE:617 555 0119>>.",
    "Attending: <<NAME:Rebecca Stone>>, MD. Patient seen with resident. 3/3 blood cultures negative. "
    "Vanc trough 15.2, continue q12h.",
    "MRN# <<MRN:5521903>> | DOB <<DATE:1939-04-17>> | Age <<AGE:94>> | Room 5B. Fall risk high; hip "
    "protectors; PT 2x/day.",
    "Left voicemail for the patient's sister <<NAME:Nadia>> re: results. Labs: TSH 0.21, free T4 1.9. "
    "Methimazole 5 mg daily.",
    "Tele-ICU camera feed (<<IP:172.16.40.12>>) reviewed overnight; no events. RASS -1, CAM-ICU negative, "
    "MAP > 65 on norepi 0.05.",
    "Wound care: stage 2 sacral ulcer, 2 x 1.5 cm. Patient: <<NAME:Ferreira, Ana Luisa>>. Dressing changed "
    "<<DATE:10/5>>, next <<DATE:10/8>>.",
    "Ortho: <<AGE:96>>-year-old with periprosthetic fracture. Lives at <<ADDRESS:19 Chestnut Hill Road>>, "
    "<<ADDRESS:Newton, MA 02467>>. Weight bearing as tolerated, 1/2 dose enoxaparin for CrCl 25.",
    "Results portal: <<URL:www.example-health.org/results/88213>>; questions to "
    "<<EMAIL:nurse.line@example-health.org>> or fax <<FAX:(212) 555-0166>>.",
    "Neuro: motor 4+/5 RLE, sensation intact, DTRs 2+ symmetric, Babinski downgoing. MRI <<DATE:7/19>> "
    "shows L4-5 disc protrusion. Dr. <<NAME:Ahmed Karimi>> to review.",
    "OB: G3P2, 32 weeks, BP 138/86, urine protein 1+. Partner <<NAME:Luis>> present. NST reactive. "
    "Induction discussed for <<DATE:Dec 2>>.",
    "Pharmacy: Rx #<<ID:7734219>> for hydrocodone 5/325 refilled early; PDMP checked. Insurance member ID "
    "<<ACCOUNT:WX44819027>>.",
]


def build(n_templated: int = 120, seed: int = 0) -> list[dict]:
    """{"id", "source", "marked"} per note: templated notes (3 PHI sentences, 2 look-alikes), then the
    hand-written ones, then the held-out ones."""
    rng = random.Random(seed)
    notes = []
    for i in range(n_templated):
        values = _values(rng)
        # Every template appears about equally often: note i starts at template 3i (mod the count).
        phi = [PHI_TEMPLATES[(3 * i + k) % len(PHI_TEMPLATES)].format(**values) for k in range(3)]
        sentences = phi + rng.sample(NEGATIVES, 2)
        rng.shuffle(sentences)
        notes.append({"id": f"t{i:03d}", "source": "template", "marked": " ".join(sentences)})
    notes += [{"id": f"h{i:02d}", "source": "hand", "marked": text} for i, text in enumerate(HAND_WRITTEN)]
    notes += [{"id": f"x{i:02d}", "source": "held_out", "marked": text} for i, text in enumerate(HELD_OUT)]
    return notes


def write(path: Path = FIXTURE) -> None:
    path.write_text("".join(json.dumps(note, ensure_ascii=False) + "\n" for note in build()))


if __name__ == "__main__":
    write()
    print(f"wrote {FIXTURE}")
