# A `livemod watch` host: nothing loads until a file is written; then the first load, a swap, a
# module with another name refused, a rollback that names the module (by manifest name, then by
# file name), and a `quit` request instead of Ctrl-C.
. "$SRC_DIR/tests/cli/live_host.sh"
mkdir mods
put "$LIVEMOD_FIXTURE_SVC_V1" mods/libsvc.so
start_host watch mods

echo "# status and rollback before anything is written: the file already there is not loaded"
"$LIVEMOD" status mods; echo "exit $?"
"$LIVEMOD" rollback mods 2>&1; echo "exit $?"

put "$LIVEMOD_FIXTURE_SVC_V1" mods/libsvc.so
wait_for 1 '^swapped'
put "$LIVEMOD_FIXTURE_SVC_V2" mods/libsvc.so
wait_for 1 '^unloaded'
put "$LIVEMOD_FIXTURE_SVC_V3_GOOD" mods/libsvc.so
wait_for 2 '^unloaded'
put "$LIVEMOD_FIXTURE_SVC_RENAMED" mods/libsvc.so
wait_for 1 '^refused'
echo "# status: 3.0.0 serves, 1.0.0 and 2.0.0 are kept"
"$LIVEMOD" status mods; echo "exit $?"

echo "# rollback svc: 3.0.0 -> 2.0.0"
"$LIVEMOD" rollback mods svc; echo "exit $?"
echo "# rollback libsvc.so: 2.0.0 -> 1.0.0"
"$LIVEMOD" rollback mods libsvc.so; echo "exit $?"
"$LIVEMOD" status mods; echo "exit $?"

echo "# quit"
send_raw mods '"quit\n"'
wait $host_pid
echo "host exit status: $?"
show_host
echo "--- left in mods"
ls -A mods
