package canonicaljson

// Decode strictly parses the JSON text data into Go values: map[string]any
// for objects, []any for arrays, string, int64, bool and nil. It applies the
// same rules as Canonicalize: integers only, within ±(2**53−1); no duplicate
// keys; valid UTF-8 and no lone surrogates; no trailing data; nesting at most
// MaxDepth.
func Decode(data []byte) (any, error) {
	d := decoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos = skipSpace(d.data, d.pos); d.pos != len(d.data) {
		return nil, syntaxErr(d.pos, ErrTrailingData)
	}
	return v, nil
}

type decoder struct {
	data    []byte
	pos     int
	scratch []byte
}

func (d *decoder) value(depth int) (any, error) {
	d.pos = skipSpace(d.data, d.pos)
	if d.pos >= len(d.data) {
		return nil, syntaxErr(d.pos, ErrSyntax)
	}
	switch b := d.data[d.pos]; b {
	case '{':
		return d.object(depth + 1)
	case '[':
		return d.array(depth + 1)
	case '"':
		return d.str()
	case 't':
		return d.literal("true", true)
	case 'f':
		return d.literal("false", false)
	case 'n':
		return d.literal("null", nil)
	default:
		if b != '-' && !isDigit(b) {
			return nil, syntaxErr(d.pos, ErrSyntax)
		}
		start := d.pos
		end, isInt, err := scanNumber(d.data, start)
		if err != nil {
			return nil, err
		}
		if !isInt {
			return nil, syntaxErr(start, ErrNotInteger)
		}
		n, ok := parseSafeInteger(d.data[start:end])
		if !ok {
			return nil, syntaxErr(start, ErrIntegerRange)
		}
		d.pos = end
		return n, nil
	}
}

func (d *decoder) literal(lit string, v any) (any, error) {
	end, err := scanLiteral(d.data, d.pos, lit)
	if err != nil {
		return nil, err
	}
	d.pos = end
	return v, nil
}

func (d *decoder) str() (string, error) {
	var err error
	d.scratch, d.pos, _, err = scanString(d.scratch[:0], d.data, d.pos, false)
	if err != nil {
		return "", err
	}
	return string(d.scratch), nil
}

func (d *decoder) array(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, syntaxErr(d.pos, ErrTooDeep)
	}
	d.pos++ // '['
	arr := []any{}
	if d.pos = skipSpace(d.data, d.pos); d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return arr, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		done, err := d.next(']')
		if err != nil {
			return nil, err
		}
		if done {
			return arr, nil
		}
	}
}

// next reads what follows an element or member of an array or object: a
// ',' or the closing byte, and reports whether the container ended.
func (d *decoder) next(closing byte) (done bool, err error) {
	d.pos = skipSpace(d.data, d.pos)
	if d.pos >= len(d.data) {
		return false, syntaxErr(d.pos, ErrSyntax)
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		return false, nil
	case closing:
		d.pos++
		return true, nil
	}
	return false, syntaxErr(d.pos, ErrSyntax)
}

func (d *decoder) object(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, syntaxErr(d.pos, ErrTooDeep)
	}
	d.pos++ // '{'
	obj := map[string]any{}
	if d.pos = skipSpace(d.data, d.pos); d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return obj, nil
	}
	for {
		d.pos = skipSpace(d.data, d.pos)
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, syntaxErr(d.pos, ErrSyntax)
		}
		keyPos := d.pos
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[k]; dup {
			return nil, syntaxErr(keyPos, ErrDuplicateKey)
		}
		if d.pos = skipSpace(d.data, d.pos); d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, syntaxErr(d.pos, ErrSyntax)
		}
		d.pos++
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		obj[k] = v
		done, err := d.next('}')
		if err != nil {
			return nil, err
		}
		if done {
			return obj, nil
		}
	}
}
