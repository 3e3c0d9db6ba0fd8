# `livemod run --json`: one JSON object per event, also as the answer to a rollback, which is
# marked "requested" and has no cause. Step times become @MS@.
. "$SRC_DIR/tests/cli/live_host.sh"
mkdir mods
put "$LIVEMOD_FIXTURE_SVC_V1" mods/libsvc.so
start_host run mods --json
wait_for 1 '"event":"swapped"'
put "$LIVEMOD_FIXTURE_SVC_V2" mods/libsvc.so
wait_for 1 '"event":"unloaded"'
echo "# rollback"
"$LIVEMOD" rollback mods | sed 's/"[0-9][0-9]*\.[0-9][0-9][0-9]"/"@MS@"/g'
stop_host
show_host | sed 's/"[0-9][0-9]*\.[0-9][0-9][0-9]"/"@MS@"/g'
