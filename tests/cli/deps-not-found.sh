# Every candidate, in search order: --path, then LIVEMOD_PATH (a relative entry is ignored,
# with a warning), then the system directories.
mkdir env
LIVEMOD_PATH="$CASE_TMP/env:relative/dir" \
  "$LIVEMOD" deps nosuch --path "$LIVEMOD_FIXTURE_GRAPH_OK_DIR"
