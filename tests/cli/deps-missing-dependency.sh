# reporter requires renderer, which is nowhere: who needs it, and every place tried.
dir=$LIVEMOD_FIXTURE_GRAPH_MISSING_DIR
"$LIVEMOD" deps "$dir/libreporter.so" --path "$dir"
