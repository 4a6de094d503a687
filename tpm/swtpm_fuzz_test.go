package tpm

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzStreamResponse feeds arbitrary peer bytes to the swtpm data-channel
// framing: it never panics, and a response it accepts is exactly as long as
// its header says and was sent by the peer.
func FuzzStreamResponse(f *testing.F) {
	ok := binary.BigEndian.AppendUint16(nil, 0x8001)
	ok = binary.BigEndian.AppendUint32(ok, 10)
	ok = binary.BigEndian.AppendUint32(ok, 0)
	f.Add(ok)
	f.Add(append(ok[:2:2], 0, 0, 0, 12, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc))
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 9})
	f.Add([]byte{0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, peer []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			defer b.Close()
			cmd := make([]byte, 10)
			if _, err := io.ReadFull(b, cmd); err != nil {
				return
			}
			_, _ = b.Write(peer)
		}()
		s := &streamTPM{conn: a, timeout: 2 * time.Second}
		rsp, err := s.Send([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 0x44})
		if err != nil {
			if _, again := s.Send([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 0x44}); again == nil {
				t.Fatal("Send succeeded after an earlier I/O error")
			}
			return
		}
		if len(rsp) < 10 || int(binary.BigEndian.Uint32(rsp[2:6])) != len(rsp) || !bytes.HasPrefix(peer, rsp) {
			t.Fatalf("Send accepted %x from peer %x", rsp, peer)
		}
	})
}
