"""One module per command, each read top to bottom: train, evaluate, generate, export, report,
data_report, hub_push, launch. medft.cli and medft.api call them; tests call them directly."""
