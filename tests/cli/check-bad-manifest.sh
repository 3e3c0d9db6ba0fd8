# "abi" is a string: the manifest does not validate, so the module is incompatible.
"$LIVEMOD" check "$LIVEMOD_FIXTURE_MANIFEST_ABI_STRING"
