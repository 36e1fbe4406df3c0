module chatd

go 1.26
