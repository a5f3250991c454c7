// Package keepalived translates the LVS half of a keepalived.conf (virtual
// servers, real servers, their health checkers) into a fastlvs configuration.
// What has no fastlvs equivalent is named in a list of warnings, with its line
// number, never dropped silently.
package keepalived

import (
	"fmt"
	"strings"
)

// Node is one statement of keepalived.conf: a keyword, its arguments and, for
// a block ("real_server 198.18.2.2 80 { ... }"), its children.
type Node struct {
	Keyword  string
	Args     []string
	Line     int
	Block    bool
	Children []*Node
}

// String renders the statement head for warnings: "real_server 198.18.2.2 80".
func (n *Node) String() string {
	return strings.TrimSpace(n.Keyword + " " + strings.Join(n.Args, " "))
}

// token is a word, a quoted string, a brace, or the end of a line.
type token struct {
	text   string
	line   int
	quoted bool
	eol    bool
}

// Parse reads keepalived.conf text into a statement tree. Comments start with
// '#' or '!' outside quotes; braces may stand anywhere, also alone on the
// line after their statement.
func Parse(src []byte) ([]*Node, error) {
	tokens, err := tokenize(string(src))
	if err != nil {
		return nil, err
	}
	parser := &parser{tokens: tokens}
	nodes, err := parser.statements(0)
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

func tokenize(src string) ([]token, error) {
	var tokens []token
	for index, line := range strings.Split(src, "\n") {
		number := index + 1
		for position := 0; position < len(line); {
			char := line[position]
			switch {
			case char == ' ' || char == '\t' || char == '\r':
				position++
			case char == '#' || char == '!':
				position = len(line)
			case char == '{' || char == '}':
				tokens = append(tokens, token{text: string(char), line: number})
				position++
			case char == '"':
				end := strings.IndexByte(line[position+1:], '"')
				if end < 0 {
					return nil, fmt.Errorf("line %d: unterminated quoted string", number)
				}
				tokens = append(tokens, token{text: line[position+1 : position+1+end], line: number, quoted: true})
				position += end + 2
			default:
				end := position
				for end < len(line) && !strings.ContainsRune(" \t\r{}\"#!", rune(line[end])) {
					end++
				}
				tokens = append(tokens, token{text: line[position:end], line: number})
				position = end
			}
		}
		tokens = append(tokens, token{line: number, eol: true})
	}
	return tokens, nil
}

type parser struct {
	tokens   []token
	position int
}

func (p *parser) isBrace(t token, brace string) bool { return !t.quoted && !t.eol && t.text == brace }

// statements reads statements until the '}' closing a block opened on line
// openedAt, or until the end of the input at the top level (openedAt 0).
func (p *parser) statements(openedAt int) ([]*Node, error) {
	var nodes []*Node
	for p.position < len(p.tokens) {
		current := p.tokens[p.position]
		switch {
		case current.eol:
			p.position++
		case p.isBrace(current, "}"):
			if openedAt == 0 {
				return nil, fmt.Errorf("line %d: '}' without an open block", current.line)
			}
			p.position++
			return nodes, nil
		case p.isBrace(current, "{"):
			return nil, fmt.Errorf("line %d: '{' without a keyword before it", current.line)
		default:
			node, err := p.statement()
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, node)
		}
	}
	if openedAt != 0 {
		return nil, fmt.Errorf("line %d: block is never closed (missing '}')", openedAt)
	}
	return nodes, nil
}

func (p *parser) statement() (*Node, error) {
	head := p.tokens[p.position]
	node := &Node{Keyword: head.text, Line: head.line}
	p.position++
	for p.position < len(p.tokens) {
		current := p.tokens[p.position]
		if current.eol || p.isBrace(current, "}") {
			break
		}
		if p.isBrace(current, "{") {
			break
		}
		node.Args = append(node.Args, current.text)
		p.position++
	}
	// The opening brace may follow on the next non-empty line.
	next := p.position
	for next < len(p.tokens) && p.tokens[next].eol {
		next++
	}
	if next < len(p.tokens) && p.isBrace(p.tokens[next], "{") {
		p.position = next + 1
		children, err := p.statements(head.line)
		if err != nil {
			return nil, err
		}
		node.Block, node.Children = true, children
	}
	return node, nil
}
