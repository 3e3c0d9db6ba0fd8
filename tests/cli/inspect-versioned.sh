# Defines its own symbol versions (.gnu.version_d): name@@VER in the symbol table.
"$LIVEMOD" inspect --symbols "$LIVEMOD_FIXTURE_IMAGE_VERSIONED"
