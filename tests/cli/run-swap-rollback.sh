# A `livemod run` host over a directory, driven end to end: the first load, a swap to v2, a bad
# file refused at preflight (v2 keeps serving), `livemod status`, a second host refused, a
# rollback by request, nothing left to roll back to, an unknown module, then Ctrl-C: the last
# version unloads and the control channel leaves the directory.
. "$SRC_DIR/tests/cli/live_host.sh"
mkdir mods
put "$LIVEMOD_FIXTURE_SVC_V1" mods/libsvc.so
start_host run mods
wait_for 1 '^swapped'

echo "# status after the first load"
"$LIVEMOD" status mods; echo "exit $?"

put "$LIVEMOD_FIXTURE_SVC_V2" mods/libsvc.so
wait_for 1 '^unloaded'
put "$LIVEMOD_FIXTURE_SVC_V4_FEWER_METHODS" mods/libsvc.so
wait_for 1 '^refused'

echo "# status: v2 serves, v1 is kept for rollback"
"$LIVEMOD" status mods; echo "exit $?"

echo "# a second host for the same directory"
"$LIVEMOD" run mods 2>&1 | sed 's/(pid [0-9]*)/(pid N)/'

echo "# rollback"
"$LIVEMOD" rollback mods; echo "exit $?"
echo "# rollback again: nothing is kept"
"$LIVEMOD" rollback mods 2>&1; echo "exit $?"
echo "# rollback of a module the host does not host"
"$LIVEMOD" rollback mods calc 2>&1; echo "exit $?"

echo "# status after the rollback"
"$LIVEMOD" status mods; echo "exit $?"

stop_host
show_host
echo "--- left in mods"
ls -A mods
