package hosted

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/gif"
	"image/png"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/idx"
)

func encoded(t *testing.T, size int, enc func(*bytes.Buffer, image.Image) error) string {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 2 * 255)
	}
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestQRImageOnlyEmbedsPNGs(t *testing.T) {
	pngOf := func(b *bytes.Buffer, i image.Image) error { return png.Encode(b, i) }
	gifOf := func(b *bytes.Buffer, i image.Image) error { return gif.Encode(b, i, &gif.Options{NumColors: 2}) }
	good := encoded(t, 200, pngOf)
	if got := qrImage(&idx.QRCode{Href: pngDataPrefix + good}); string(got) != pngDataPrefix+good {
		t.Fatalf("a real PNG was not kept: %.60q", got)
	}
	header := string(mustDecode(t, good)[:16])
	for name, href := range map[string]string{
		"a GIF labelled PNG":   pngDataPrefix + encoded(t, 200, gifOf),
		"a PNG header only":    pngDataPrefix + base64.StdEncoding.EncodeToString([]byte(header)),
		"a truncated PNG":      pngDataPrefix + base64.StdEncoding.EncodeToString(mustDecode(t, good)[:len(mustDecode(t, good))/2]),
		"too small for a QR":   pngDataPrefix + encoded(t, 8, pngOf),
		"not base64":           pngDataPrefix + "!!!" + good,
		"an SVG":               "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)),
		"a URL":                "https://evil.example/qr.png",
		"a javascript: URI":    "javascript:alert(1)",
		"over the size bound":  pngDataPrefix + strings.Repeat("A", base64.StdEncoding.EncodedLen(maxQRBytes)+4),
		"empty":                "",
		"the prefix, no image": pngDataPrefix,
	} {
		if got := qrImage(&idx.QRCode{Href: href}); got != "" {
			t.Errorf("%s was kept: %.60q", name, got)
		}
	}
	if qrImage(nil) != "" {
		t.Error("no QR code gave an image")
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGroupSecret(t *testing.T) {
	for in, want := range map[string]string{
		"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP": "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP",
		"jbswy3dpehpk3pxp":                 "JBSW Y3DP EHPK 3PXP",
		"JBSWY3DPEH==":                     "JBSW Y3DP EH",
		" JBSW Y3DP ":                      "JBSW Y3DP",
		"":                                 "",
	} {
		if got := groupSecret(in); got != want {
			t.Errorf("groupSecret(%q) = %q, want %q", in, got, want)
		}
	}
}
