# rollback and status with no host serving the directory, with a directory that is not there,
# and without one.
mkdir mods
"$LIVEMOD" rollback mods; echo "exit $?"
"$LIVEMOD" status mods; echo "exit $?"
"$LIVEMOD" rollback missing; echo "exit $?"
"$LIVEMOD" rollback; echo "exit $?"
