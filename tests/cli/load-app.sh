# Loads app's graph, then unloads it. Times vary: numbers of milliseconds become N. The log
# lines on stderr show the real order of on_load calls, and that app is told metrics is absent.
"$LIVEMOD" load app --path "$LIVEMOD_FIXTURE_GRAPH_OK_DIR" >out.txt
status=$?
sed -e 's/ *[0-9][0-9]*\.[0-9][0-9][0-9]/ N/g' out.txt
exit $status
