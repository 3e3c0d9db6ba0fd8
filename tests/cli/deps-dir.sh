# A directory: every lib*.so module in it is requested, in name order, and it is searched
# first. A plain shared library there (no manifest) is skipped with a note; a file that is not
# lib*.so is not looked at.
mkdir modules
cp "$LIVEMOD_FIXTURE_GRAPH_OK_DIR"/lib*.so modules/
cp "$LIVEMOD_FIXTURE_MISSING_DEPENDENCY" modules/libplain.so
echo "not a module" >modules/README
"$LIVEMOD" deps modules/
