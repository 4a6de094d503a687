module github.com/imasim/imasim

go 1.26.8
