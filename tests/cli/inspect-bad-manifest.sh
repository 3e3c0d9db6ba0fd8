# The manifest has no "version": the report is printed, the error goes to stderr, exit 1.
"$LIVEMOD" inspect "$LIVEMOD_FIXTURE_MANIFEST_MISSING_VERSION"
