#!/bin/bash
# Runs exp_logs/queue.txt one line at a time (first line popped before it runs; edit the file to reorder).
cd /work/wt-recipes24
export PYTHONPATH=/work/wt-recipes24
while true; do
  line=$(head -n 1 exp_logs/queue.txt)
  [ -z "$line" ] && break
  tail -n +2 exp_logs/queue.txt > exp_logs/queue.tmp && mv exp_logs/queue.tmp exp_logs/queue.txt
  tag=$(echo "$line" | cut -d'|' -f1 | xargs); cmd=$(echo "$line" | cut -d'|' -f2-)
  echo "$(date -Is) START $tag :: $cmd" >> exp_logs/commands.log
  start=$(date +%s)
  bash -c "$cmd" > "exp_logs/$tag.log" 2>&1
  rc=$?
  echo "$(date -Is) END $tag rc=$rc wall=$(( $(date +%s) - start ))s" >> exp_logs/commands.log
done
