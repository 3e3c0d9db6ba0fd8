# The DOT text, and proof that Graphviz renders it: dot exits 0, says nothing, writes an <svg>.
"$LIVEMOD" deps app --path "$LIVEMOD_FIXTURE_GRAPH_OK_DIR" --dot >graph.dot
status=$?
cat graph.dot
if dot -Tsvg graph.dot >graph.svg 2>dot.stderr && grep -q '<svg' graph.svg; then
  echo "dot -Tsvg: rendered an <svg>" >&2
else
  echo "dot -Tsvg: failed" >&2
fi
cat dot.stderr >&2
exit $status
