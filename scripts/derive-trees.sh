#!/bin/sh
# Cache the files `imasim profile derive` reads from Debian's linux-source-6.1,
# -6.12 and -7.2 (whatever versions apt offers), for go test ./cache/derive:
# ~/.cache/imasim/kernels/derive/PKG_VERSION/tree. Only those files are kept
# (a few MiB); the .deb is deleted. Needs apt sources for bookworm, trixie and
# sid (make kernels adds them, pinned low).
set -eu
BIN=${1:-bin/imasim}
CACHE=${IMASIM_CACHE:-$HOME/.cache/imasim/kernels}/derive
FILES=$("$BIN" profile derive --list-files)
mkdir -p "$CACHE"
for pkg in linux-source-6.1 linux-source-6.12 linux-source-7.2; do
	ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^  Candidate: //p')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		echo "derive-trees: $pkg: not in the apt sources, skipped" >&2
		continue
	fi
	dir=$CACHE/${pkg}_$ver
	if [ -f "$dir/tree/Makefile" ]; then
		echo "derive-trees: $dir (cached)"
		continue
	fi
	tmp=$(mktemp -d "$CACHE/.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	(cd "$tmp" && apt-get download -q "$pkg=$ver" >/dev/null)
	series=${pkg#linux-source-}
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" "./usr/src/linux-source-$series.tar.xz"
	members=
	for f in $FILES; do members="$members linux-source-$series/$f"; done
	# Not every file exists in every tree (fs/backing-file.c is 6.7+).
	# shellcheck disable=SC2086
	tar -xJf "$tmp/usr/src/linux-source-$series.tar.xz" -C "$tmp" --ignore-failed-read $members 2>/dev/null || true
	[ -f "$tmp/linux-source-$series/Makefile" ] || { echo "derive-trees: $pkg $ver: no Makefile in the tarball" >&2; exit 1; }
	mkdir -p "$dir"
	mv "$tmp/linux-source-$series" "$dir/tree"
	rm -rf "$tmp"
	trap - EXIT INT TERM
	echo "derive-trees: $dir"
done
