// The tests of the repository's documents: every link in README.md,
// BENCHMARKS.md and docs/*.md leads to a file in the repository (and,
// for a link to a heading, to that heading), and nothing links outside
// it, since a person who has cloned the repository may have nothing else.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// documents returns the Markdown files whose links are checked, relative
// to the repository's root.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md", "../BENCHMARKS.md"}, docs...)
}

var (
	fence      = regexp.MustCompile("(?ms)^ *(```|~~~).*?^ *(```|~~~) *$")
	codeSpan   = regexp.MustCompile("`[^`\n]*`")
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	autoLink   = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>`)
	htmlLink   = regexp.MustCompile(`(?i)\b(?:href|src)\s*=\s*"([^"]*)"`)
	bareURL    = regexp.MustCompile(`(?i)\b(?:https?|ftp)://\S+|\bwww\.[a-z0-9-]+\.[a-z]`)
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// links returns the link targets of a Markdown text, and the addresses
// outside the repository that it would show as links. Code blocks and
// code spans are left out: a command's output may name a web page
// without linking to it.
func links(text string) (targets, outside []string) {
	text = fence.ReplaceAllString(text, "")
	text = codeSpan.ReplaceAllString(text, "")
	for _, rx := range []*regexp.Regexp{inlineLink, refDef, autoLink, htmlLink} {
		for _, m := range rx.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		text = rx.ReplaceAllString(text, "")
	}
	return targets, bareURL.FindAllString(text, -1)
}

// TestLinksStayInside checks every link of every document: a relative
// path to a file or directory of the repository, with, for a Markdown
// file, an anchor that names one of its headings.
func TestLinksStayInside(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range documents(t) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		targets, outside := links(string(data))
		for _, u := range outside {
			t.Errorf("%s: %q is an address outside the repository", doc, u)
		}
		for _, target := range targets {
			if err := checkTarget(root, doc, target); err != "" {
				t.Errorf("%s: link %q: %s", doc, target, err)
			}
		}
	}
}

// checkTarget says what is wrong with one link target of doc, or "".
func checkTarget(root, doc, target string) string {
	if target == "" {
		return "empty"
	}
	if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return "leads outside the repository"
	}
	path, anchor, _ := strings.Cut(target, "#")
	file := doc
	if path != "" {
		if strings.HasPrefix(path, "/") {
			return "is absolute; links are relative to the document"
		}
		file = filepath.Join(filepath.Dir(doc), filepath.FromSlash(path))
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return err.Error()
	}
	if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "leads outside the repository"
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "no such file in the repository"
	}
	if anchor == "" {
		return ""
	}
	if info.IsDir() || !strings.HasSuffix(abs, ".md") {
		return "an anchor into something that is not a Markdown file"
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return err.Error()
	}
	if !headingAnchors(string(data))[anchor] {
		return "no heading with that anchor in " + filepath.Base(abs)
	}
	return ""
}

// headingAnchors returns the anchors of a Markdown text's headings, made
// the way GitHub makes them: lower case, punctuation dropped, spaces as
// hyphens, a repeated one numbered.
func headingAnchors(text string) map[string]bool {
	text = fence.ReplaceAllString(text, "")
	seen := map[string]int{}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6} +(.+?) *#* *$`).FindAllStringSubmatch(text, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// TestLinkChecker makes sure the checker itself catches what it must.
func TestLinkChecker(t *testing.T) {
	text := "See [design](../shared/DESIGN.md), [site](https://example.com), <https://example.org>,\n" +
		"www.example.net and https://bare.example, but not `https://in.code` or\n" +
		"```\nhttps://in.a.block\n```\n[ok](README.md#a-heading) ![pic](docs/x.svg)\n[ref]: other.md\n"
	targets, outside := links(text)
	wantTargets := []string{"../shared/DESIGN.md", "https://example.com", "README.md#a-heading", "docs/x.svg", "other.md", "https://example.org"}
	for _, w := range wantTargets {
		if !slices.Contains(targets, w) {
			t.Errorf("links missed the target %q (found %q)", w, targets)
		}
	}
	if len(outside) != 2 {
		t.Errorf("bare addresses found %q, want www.example.net and https://bare.example", outside)
	}
	if a := headingAnchors("# A heading\n## Explore your own race\n## A heading\n### 5–6× faster, ≤ 1/3\n"); !a["a-heading"] || !a["explore-your-own-race"] || !a["a-heading-1"] || !a["56-faster--13"] {
		t.Errorf("heading anchors %v", a)
	}
	root, _ := filepath.Abs("..")
	for target, bad := range map[string]bool{
		"../README.md":                       false,
		"../README.md#vmsim":                 false,
		"../README.md#no-such-heading":       true,
		"../../outside.md":                   true,
		"https://example.com":                true,
		"mailto:someone@example.com":         true,
		"architecture.md#how-vmsim-is-built": false,
		"../examples/mapfixed-race":          false,
		"../examples/no-such-example":        true,
		"/etc/passwd":                        true,
		"../mmap/doc.go#anchor":              true,
	} {
		if got := checkTarget(root, "architecture.md", target) != ""; got != bad {
			t.Errorf("checkTarget(%q) found a problem: %v, want %v", target, got, bad)
		}
	}
}
