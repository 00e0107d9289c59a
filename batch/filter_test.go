package batch

import (
	"errors"
	"slices"
	"testing"
)

func TestAppendFiltered(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			in := mustAppend(t, nil, manyRecords(20), EncodeOptions{Codec: codec, ProducerID: 7, ProducerEpoch: 2,
				BaseSequence: 40, BaseOffset: 100})
			all, err := DecodeRecords(in, nil, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			hin, _ := ParseHeader(in)
			for _, tc := range []struct {
				name string
				keep func(*Record) bool
			}{
				{"odd offsets", func(r *Record) bool { return r.Offset%2 == 1 }},
				{"none", func(*Record) bool { return false }},
				{"all", func(*Record) bool { return true }},
				{"the last only", func(r *Record) bool { return r.Offset == 119 }},
			} {
				prefix := []byte("prefix")
				out, n, err := AppendFiltered(slices.Clone(prefix), in, tc.keep, 1<<20)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if string(out[:len(prefix)]) != "prefix" {
					t.Fatalf("%s: the prefix changed", tc.name)
				}
				out = out[len(prefix):]
				h, err := Validate(out)
				if err != nil {
					t.Fatalf("%s: the result does not validate: %v", tc.name, err)
				}
				if h.BaseOffset != hin.BaseOffset || h.LastOffset() != hin.LastOffset() || h.ProducerID != 7 ||
					h.BaseSequence != 40 || h.Codec() != None || h.Size() != len(out) {
					t.Errorf("%s: header %+v, from %+v", tc.name, h, hin)
				}
				got, err := DecodeRecords(out, nil, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				var want []Record
				for i := range all {
					if tc.keep(&all[i]) {
						want = append(want, all[i])
					}
				}
				if n != len(want) || len(got) != len(want) {
					t.Fatalf("%s: kept %d, decoded %d, want %d", tc.name, n, len(got), len(want))
				}
				for i := range got {
					if got[i].Offset != want[i].Offset {
						t.Errorf("%s: record %d at offset %d, want %d", tc.name, i, got[i].Offset, want[i].Offset)
					}
					if d := recordDiff(got[i], want[i]); d != "" {
						t.Errorf("%s: record %d: %s", tc.name, i, d)
					}
				}
			}
		})
	}
}

func TestAppendFilteredBadInput(t *testing.T) {
	good := mustAppend(t, nil, manyRecords(3), EncodeOptions{ProducerID: -1})
	flipped := slices.Clone(good)
	flipped[len(flipped)-1] ^= 0xff
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"truncated", good[:len(good)-1], ErrTruncated},
		{"bad crc", flipped, ErrCorrupt},
	} {
		out, _, err := AppendFiltered([]byte("x"), tc.b, func(*Record) bool { return true }, 1<<20)
		if !errors.Is(err, tc.want) || string(out) != "x" {
			t.Errorf("%s: %q, %v; want %v and dst unchanged", tc.name, out, err, tc.want)
		}
	}
}

func FuzzAppendFiltered(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s, byte(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, mask byte) {
		keep := func(r *Record) bool { return mask&(1<<(uint64(r.Offset)%8)) != 0 }
		out, n, err := AppendFiltered(nil, data, keep, fuzzMaxDecompressed)
		if err != nil {
			if !isSentinel(err) && !errors.Is(err, ErrUnknownCodec) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		recs, err := DecodeRecords(out, nil, fuzzMaxDecompressed)
		if err != nil {
			t.Fatalf("the filtered batch does not decode: %v", err)
		}
		if len(recs) != n {
			t.Fatalf("kept %d, decoded %d", n, len(recs))
		}
	})
}
