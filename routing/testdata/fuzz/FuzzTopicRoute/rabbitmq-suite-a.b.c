go test fuzz v1
string("a.b.c\na.*.c\na.#.b\na.b.b.c\n#\n#.#\n#.b\n*.*\na.*\n*.b.c\na.#\na.#.#\nb.b.c\na.b.b\na.b\nb.c\n\n*.*.*\nvodka.martini\n*.#\n#.*.#\n*.#.#\n#.#.#\n*\n#.b.#")
string("a.b.c")
