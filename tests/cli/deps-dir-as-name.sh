# A word without '/' is a module name, also when a directory has that name: the error says
# how to mean the directory.
mkdir modules
"$LIVEMOD" deps modules
