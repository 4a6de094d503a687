// Package measure reads, writes and replays IMA measurement lists: the
// kernel's binary_runtime_measurements and ascii_runtime_measurements
// files, their per-bank "_<algo>" variants, template field parsing for every
// builtin template and custom ima_template_fmt strings, template hashes
// (sha1, sha256, sha384, sha512, sm3), violations, boot_aggregate, the
// kernel's dedup rule and PCR replay. It imports nothing of imasim.
//
// The formats follow Linux v6.12 security/integrity/ima/ima_fs.c,
// ima_template.c, ima_template_lib.c, ima_crypto.c and ima_queue.c; each
// function cites the kernel code it mirrors.
//
// # Reading
//
// NewReader streams a binary list with bounded memory (byte order detected
// from the first entry unless ReadOptions.Order forces it); NewASCIIReader
// parses the ASCII form. Both return *ParseError{Offset, Entry, Err} for bad
// input and never allocate more than ReadOptions.MaxDataLen for one entry.
//
// # Writing (the API the scenario engine uses)
//
//	var l measure.List
//	ba, _ := measure.NewBootAggregate("ima-ng", measure.SHA256, pcrs0to9)
//	l.Append(ba)
//	e, _ := measure.NewFileEntry("ima-ng", 10, measure.SHA256, fileDigest, "/usr/bin/prog")
//	added := l.Append(e)            // false: same digest and PCR already listed
//	v, _ := measure.NewViolation("ima-ng", 10, measure.SHA256, "/tmp/f")
//	l.Append(v)                     // violations are always added
//	l.WriteBinary(w, measure.WriteOptions{})       // little-endian, SHA-1 digests
//	l.WriteASCII(w, 0)                             // kernel-identical ASCII
//	l.WriteBinary(w, measure.WriteOptions{Bank: measure.SHA256}) // the _sha256 file
//
// NewFileEntryInfo and NewViolationInfo take a FileInfo (owner, mode,
// xattrs, the SHA-1 a "d" field needs) and fill iuid, igid, imode, sig,
// evmsig and the EVM xattr fields as the kernel does. A violation extends
// 0xFF over each bank's size (ExtendDigest with PerBank), never the zeros
// the list shows.
//
// NewEntry(template, pcr, fields...) builds any template from raw field
// data (DigestNG, DigestNGv2, Name, Uint32, Uint16 or plain bytes).
// e.ExtendDigest(bank, mode) is what the kernel extends into a TPM bank for
// an entry the list added (PaddedDigest for banks of unknown algorithms), so
// a model extends its TPM exactly as the list replays.
//
// # Replay
//
// Replay (or a Replayer fed entry by entry) computes PCR values in three
// modes at once — PerBank, SHA1Padded, Fallback — and, for every quoted PCR,
// records each entry index after which the replay equals the quote. It
// never stops at the first match, checks every stored template digest, and
// can checkpoint (Replayer.State) and resume (Replayer.Resume) for
// incremental verification.
package measure
