# Requests the livemod client never sends, written to the socket as they are: each gets an error
# answer, and the host keeps serving.
. "$SRC_DIR/tests/cli/live_host.sh"
mkdir mods
start_host watch mods
echo "# unknown request"
send_raw mods '"reload everything\n"'
echo "# empty line"
send_raw mods '"\n"'
echo "# too many words"
send_raw mods '"rollback svc now\n"'
send_raw mods '"status all\n"'
echo "# binary bytes"
send_raw mods '"\x7fELF\x02\x01\n"'
echo "# too long"
send_raw mods '"x" x 5000 . "\n"'
echo "# invalid UTF-8 is echoed escaped"
send_raw mods '"bogus \xff\xfe\n"'
echo "# nothing at all"
send_raw mods '""'
echo "# still serving"
"$LIVEMOD" status mods; echo "exit $?"
stop_host
show_host
