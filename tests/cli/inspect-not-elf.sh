printf "not a shared object\n" > notes.txt
"$LIVEMOD" inspect notes.txt
