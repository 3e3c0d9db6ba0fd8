# ring_a -> ring_b -> ring_c -> ring_a, all required: the error names every module on it.
"$LIVEMOD" deps "$LIVEMOD_FIXTURE_GRAPH_CYCLE_DIR"
