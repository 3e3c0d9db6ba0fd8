# One edge of each kind: required (math, config, core), weak and absent (metrics), upward
# (plugin_host, which requires app back: a cycle through an upward edge is allowed). The init
# order is not the load order: glibc's rule puts app's later sibling config before math.
"$LIVEMOD" deps app --path "$LIVEMOD_FIXTURE_GRAPH_OK_DIR"
