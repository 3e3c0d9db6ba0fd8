# A non-PIE executable (ET_EXEC): hosts are read too.
"$LIVEMOD" inspect "$LIVEMOD_FIXTURE_IMAGE_EXEC_HOST"
