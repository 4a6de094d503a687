// Package cache models the IMA integrity cache: the per-inode iint with its
// flags and cached integrity_inode_attributes, and the decisions that clear
// or keep them — ima_collect_measurement, the stacked-filesystem check in
// process_measurement, and ima_check_last_writer — parameterised by a
// Profile (a kernel era as data, see profiles/).
//
// The package declares the small inode and file interfaces its decisions
// need; package cache/vfs implements them.
package cache
