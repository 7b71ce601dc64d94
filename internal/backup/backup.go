// Package backup writes and restores whole-database backups with PostgreSQL's
// own tools (pg_dump's custom format, pg_restore), optionally encrypted
// with a key file: AES-256-GCM over 64 KiB chunks, each authenticated with
// its position and whether it is the last, so a changed, reordered or
// truncated backup is refused rather than half restored.
package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

const (
	magic     = "RISKMAP-BACKUP-1\n"
	chunkSize = 64 << 10
)

// NewKey writes a new random 256-bit key, hex-encoded, to file (mode 0600;
// an existing file is not overwritten).
func NewKey(file string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadKey reads a key written by NewKey.
func ReadKey(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("%s: not a backup key (want 64 hex digits, as `riskmap backup --new-key` writes)", file)
	}
	return k, nil
}

// encrypter seals what is written to it, chunk by chunk.
type encrypter struct {
	w      io.Writer
	aead   cipher.AEAD
	prefix [8]byte
	n      uint32
	buf    []byte
}

func newEncrypter(w io.Writer, key []byte) (*encrypter, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	e := &encrypter{w: w, aead: aead, buf: make([]byte, 0, chunkSize)}
	if _, err := rand.Read(e.prefix[:]); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, magic); err != nil {
		return nil, err
	}
	_, err = w.Write(e.prefix[:])
	return e, err
}

func (e *encrypter) nonce() []byte {
	n := make([]byte, 12)
	copy(n, e.prefix[:])
	binary.BigEndian.PutUint32(n[8:], e.n)
	return n
}

func (e *encrypter) seal(last bool) error {
	ad := []byte{0}
	if last {
		ad[0] = 1
	}
	ct := e.aead.Seal(nil, e.nonce(), e.buf, ad)
	e.n++
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(ct)))
	if _, err := e.w.Write(l[:]); err != nil {
		return err
	}
	_, err := e.w.Write(ct)
	e.buf = e.buf[:0]
	return err
}

func (e *encrypter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(chunkSize-len(e.buf), len(p))
		e.buf = append(e.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(e.buf) == chunkSize {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Close seals the last chunk (possibly empty).
func (e *encrypter) Close() error { return e.seal(true) }

// decrypt opens an encrypted backup into w.
func decrypt(r io.Reader, w io.Writer, key []byte) error {
	br := bufio.NewReader(r)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != magic {
		return errors.New("not an encrypted riskmap backup (or a plain one given a --key-file)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	var prefix [8]byte
	if _, err := io.ReadFull(br, prefix[:]); err != nil {
		return errors.New("the backup is truncated")
	}
	for n := uint32(0); ; n++ {
		var l [4]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return errors.New("the backup is truncated: its last part is missing")
		}
		ct := make([]byte, binary.BigEndian.Uint32(l[:]))
		if len(ct) > chunkSize+aead.Overhead() {
			return errors.New("the backup is damaged")
		}
		if _, err := io.ReadFull(br, ct); err != nil {
			return errors.New("the backup is truncated")
		}
		nonce := make([]byte, 12)
		copy(nonce, prefix[:])
		binary.BigEndian.PutUint32(nonce[8:], n)
		for _, last := range []byte{0, 1} {
			pt, err := aead.Open(nil, nonce, ct, []byte{last})
			if err != nil {
				if last == 1 {
					return errors.New("the backup cannot be decrypted: a wrong key, or the file was changed")
				}
				continue
			}
			if _, err := w.Write(pt); err != nil {
				return err
			}
			if last == 1 {
				if _, err := br.ReadByte(); err != io.EOF {
					return errors.New("the backup has data after its last part")
				}
				return nil
			}
			break
		}
	}
}

// Dump writes a pg_dump custom-format backup of the database at url to w,
// encrypted when key is not nil.
func Dump(ctx context.Context, pgDump, url string, w io.Writer, key []byte) error {
	out := w
	var enc *encrypter
	if key != nil {
		var err error
		if enc, err = newEncrypter(w, key); err != nil {
			return err
		}
		out = enc
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pgDump, "--format=custom", "--no-password", "--dbname="+url)
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_dump: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if enc != nil {
		return enc.Close()
	}
	return nil
}

// Restore restores a backup written by Dump into the (empty) database at
// url, in one transaction: it all loads, or nothing does.
func Restore(ctx context.Context, pgRestore, url string, r io.Reader, key []byte) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pgRestore, "--exit-on-error", "--single-transaction", "--no-password", "--dbname="+url)
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var feedErr error
	if key != nil {
		feedErr = decrypt(r, in, key)
	} else {
		_, feedErr = io.Copy(in, r)
	}
	if feedErr != nil {
		cmd.Process.Kill() // never let a half-fed restore commit
	}
	in.Close()
	waitErr := cmd.Wait()
	if feedErr != nil {
		return feedErr
	}
	if waitErr != nil {
		return fmt.Errorf("pg_restore: %v: %s", waitErr, strings.TrimSpace(stderr.String()))
	}
	return nil
}
