# With --json an error is a JSON object on stdout, and stderr stays empty.
head -c 100 "$LIVEMOD_FIXTURE_CALCULATOR" > truncated.so
"$LIVEMOD" inspect --json truncated.so
