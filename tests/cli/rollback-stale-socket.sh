# A host killed with SIGKILL leaves its control socket behind: rollback says so; the next host
# replaces it and answers. Rolling back the only version there is: E539.
. "$SRC_DIR/tests/cli/live_host.sh"
mkdir mods
put "$LIVEMOD_FIXTURE_SVC_V1" mods/libsvc.so
start_host run mods
wait_for 1 '^swapped'
kill -KILL $host_pid
wait $host_pid 2>/dev/null  # without the shell's "Killed"
echo "killed host exit status: $?"
echo "--- left in mods/.livemod"
ls -A mods/.livemod

echo "# rollback with the dead host's socket"
"$LIVEMOD" rollback mods; echo "exit $?"

echo "# a new host"
start_host run mods
wait_for 1 '^swapped'
"$LIVEMOD" status mods; echo "exit $?"
"$LIVEMOD" rollback mods; echo "exit $?"
stop_host
show_host
echo "--- left in mods"
ls -A mods
