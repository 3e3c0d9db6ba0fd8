# With --json the manifest error is in "manifest_error", stderr stays empty, exit 1.
"$LIVEMOD" inspect --json "$LIVEMOD_FIXTURE_MANIFEST_BAD_DEPENDENCY_KIND"
