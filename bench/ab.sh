#!/usr/bin/env bash
# A/B: `backfill validate` of an older commit against the working tree, alternated in one run,
# wall seconds per run. The older commit is checked out in a worktree and run with this
# checkout's packages (a venv whose .pth lists the worktree, then .venv's site-packages).
#   bench/ab.sh REV MAPPING INPUT [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$1 mapping=$2 input=$3 runs=${4:-3}
old=$(mktemp -d /tmp/backfill-ab-XXXX)
git worktree add --detach "$old/src" "$rev" >/dev/null 2>&1
python3.11 -m venv "$old/venv"
site=$(echo "$old"/venv/lib/python3.11/site-packages)
printf '%s\n%s\n' "$old/src" "$PWD/.venv/lib/python3.11/site-packages" > "$site/zz-ab.pth"
trap 'git worktree remove --force "$old/src"; rm -rf "$old"' EXIT
for _ in $(seq "$runs"); do
  for which in old new; do
    py=.venv/bin/python; [ "$which" = old ] && py="$old/venv/bin/python"
    start=$(date +%s.%N)
    "$py" -m backfill validate "$mapping" "$input" --quiet --rejects "$old/rejects.$which" >/dev/null || true
    echo "$which $(echo "$(date +%s.%N) - $start" | bc)"
  done
done | sort | awk '{a[$1] = a[$1] " " $2} END {for (k in a) print k ":" a[k]}'
