"$LIVEMOD" load service --path "$LIVEMOD_FIXTURE_GRAPH_FAILING_DIR" --json
