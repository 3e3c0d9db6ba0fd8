# Nothing runs when the graph does not resolve: no log line, only the error.
"$LIVEMOD" load reporter --path "$LIVEMOD_FIXTURE_GRAPH_MISSING_DIR"
