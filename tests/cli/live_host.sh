# Helpers for the cases that drive a real `livemod run` / `livemod watch` host (sourced, not a
# case). Every wait is for an event, never for a time: a case writes a version, waits until the
# host has printed what that version caused, and only then goes on, so the output is the same on
# a fast machine and a loaded one. Timings in the output are masked by run_golden.sh.
#
#   start_host run mods             the host in the background: stdout host.out, stderr host.err
#   put "$LIVEMOD_FIXTURE_SVC_V2" mods/libsvc.so      a new version, written as a build does
#   wait_for 2 '^swapped'           until host.out has 2 lines matching the pattern
#   stop_host                       SIGINT, then the host's exit status
#   show_host                       what it printed

# Staged copies of killed hosts stay in the case's directory, which run_golden.sh removes.
mkdir -p "$CASE_TMP/shadow"
export TMPDIR="$CASE_TMP/shadow"

k_tries=600  # of 0.1 s: a minute, far more than any step needs

# start_host VERB DIR [OPTION...]: returns once the host answers `livemod status DIR`; the host
# opens its control channel after its watcher, so from then on every write is seen.
start_host() {
  "$LIVEMOD" "$@" >host.out 2>host.err &
  host_pid=$!
  tries=0
  until "$LIVEMOD" status "$2" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ $tries -gt $k_tries ] || ! kill -0 $host_pid 2>/dev/null; then
      echo "the host did not start:" >&2
      cat host.out host.err >&2
      exit 1
    fi
    sleep 0.1
  done
}

# wait_for COUNT PATTERN: until COUNT lines of host.out match the grep pattern.
wait_for() {
  tries=0
  while [ "$(grep -c -e "$2" host.out)" -lt "$1" ]; do
    tries=$((tries + 1))
    if [ $tries -gt $k_tries ]; then
      echo "timed out waiting for $1 lines matching '$2'; the host printed:" >&2
      cat host.out host.err >&2
      kill $host_pid 2>/dev/null
      exit 1
    fi
    sleep 0.1
  done
}

# put FILE DEST: copies FILE next to DEST under a name the watcher ignores, then renames it over
# DEST, as a build that writes atomically does.
put() {
  cp "$1" "$(dirname "$2")/.incoming" && mv "$(dirname "$2")/.incoming" "$2"
}

# stop_host: SIGINT, as Ctrl-C would, and the exit status it ended with.
stop_host() {
  kill -INT $host_pid
  wait $host_pid
  echo "host exit status: $?"
}

show_host() {
  echo "--- host stdout"
  cat host.out
  echo "--- host stderr"
  cat host.err
}

# send_raw DIR PERL_STRING: sends the bytes of a Perl string literal to the host serving DIR as
# they are, and prints its answer; for requests the livemod client would never send.
send_raw() {
  perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "cannot connect: $!\n";
    print $s eval($ARGV[1]);
    shutdown($s, 1);
    print while <$s>;' "$1/.livemod/control.sock" "$2"
}
