// Package vfs models the parts of Linux filesystems that the IMA integrity
// cache depends on: i_version (query, peek, maybe-increment), getattr
// (change_cookie, ctime with multigrain semantics, dev, ino), timestamps,
// and overlayfs stacking with copy-up. It does not import package cache;
// cache declares the small interfaces it needs and this package meets them.
//
// A World is analogous to a mount namespace: superblocks (Super, analogous
// to struct super_block) mounted at paths, holding inodes (Inode,
// analogous to struct inode). Each superblock follows a Model — the
// behaviour of one filesystem type in one kernel era, e.g. XFS before and
// after multigrain timestamps (6.13).
//
// Every behaviour cites the kernel function it follows.
package vfs
