module github.com/imasim/imasim

go 1.26.8

require golang.org/x/sys v0.49.0

require github.com/ulikunitz/xz v0.5.17 // indirect
