# Two requests, one a file: both load as one graph. Times vary: nanoseconds become N.
"$LIVEMOD" load "$LIVEMOD_FIXTURE_GRAPH_MATH" app --path "$LIVEMOD_FIXTURE_GRAPH_OK_DIR" \
  --json >out.json
status=$?
sed -e 's/\("[a-z]*_ns": \)[0-9][0-9]*/\1N/' out.json
exit $status
