package celery

import (
	"encoding/json"
	"fmt"
)

// Result is one task state as Celery's result documents carry it.
type Result struct {
	TaskID string
	State  State
	// Value is the task's return value for SUCCESS (JSON types, numbers as
	// json.Number) and the {"pid", "hostname"} object for STARTED.
	Value any
	// Raw is the "result" field exactly as sent.
	Raw json.RawMessage
	// Err describes the exception of FAILURE, REVOKED and RETRY results.
	Err       *RemoteError
	Traceback string
}

type resultJSON struct {
	TaskID    string          `json:"task_id"`
	Status    State           `json:"status"`
	Result    json.RawMessage `json:"result"`
	Traceback *string         `json:"traceback"`
	Children  json.RawMessage `json:"children"`
}

type excJSON struct {
	Type    string `json:"exc_type"`
	Message any    `json:"exc_message"`
	Module  string `json:"exc_module"`
}

// EncodeResult builds the result document a Celery worker sends for r:
// Value (or Raw) for SUCCESS and STARTED, Err for the other states.
func EncodeResult(r *Result) ([]byte, error) {
	if r.Err != nil {
		tb := r.Traceback
		if tb == "" {
			tb = r.Err.Traceback
		}
		return ErrorResult(r.TaskID, r.State, r.Err, tb), nil
	}
	raw := r.Raw
	if raw == nil {
		var err error
		if raw, err = AppendJSON(nil, r.Value); err != nil {
			return nil, fmt.Errorf("queue: encode result of %s: %w", r.TaskID, err)
		}
	}
	return ResultBody(r.TaskID, r.State, raw, nil), nil
}

// SuccessResult is the SUCCESS document of value, encoded once into a
// buffer sized for it (a command's output can be 16 MiB: no second copy,
// no regrowth), and raw, the result field within it.
func SuccessResult(taskID string, value any) (body, raw []byte, err error) {
	const head, mid, tail = `{"task_id": `, `, "status": "SUCCESS", "result": `, `, "traceback": null, "children": []}`
	size := len(head) + stringLen(taskID) + len(mid) + len(tail) + 16
	if s, ok := value.(string); ok {
		size += stringLen(s) - 16
	}
	body = append(make([]byte, 0, size), head...)
	body = appendString(body, taskID)
	body = append(body, mid...)
	start := len(body)
	if body, err = AppendJSON(body, value); err != nil {
		return nil, nil, err
	}
	raw = body[start:len(body):len(body)]
	return append(body, tail...), raw, nil
}

// ErrorResult is the document of a FAILURE, REVOKED or RETRY result. An
// exception whose arguments cannot be encoded becomes kombu's EncodeError.
func ErrorResult(taskID string, state State, exc *RemoteError, traceback string) []byte {
	body, err := encodeException(exc)
	if err != nil {
		body, _ = encodeException(Exception("kombu.exceptions", "EncodeError", err.Error()))
	}
	var tb []byte
	if traceback != "" {
		tb = appendString(nil, traceback)
	}
	return ResultBody(taskID, state, body, tb)
}

// ResultBody assembles a result document from its parts (raw: the JSON of
// the result field; traceback: a JSON string or nil). It is the hot path
// of every worker, so it is built by hand.
func ResultBody(taskID string, state State, raw, traceback []byte) []byte {
	b := make([]byte, 0, 96+len(taskID)+len(raw)+len(traceback))
	b = append(b, `{"task_id": `...)
	b = appendString(b, taskID)
	b = append(b, `, "status": "`...)
	b = append(b, state...)
	b = append(b, `", "result": `...)
	b = append(b, raw...)
	b = append(b, `, "traceback": `...)
	if traceback == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, traceback...)
	}
	b = append(b, `, "children": []}`...)
	return b
}

func encodeException(e *RemoteError) ([]byte, error) {
	msg, module := e.parts()
	b := appendString([]byte(`{"exc_type": `), e.Type)
	b = append(b, `, "exc_message": `...)
	b, err := AppendJSON(b, msg)
	if err != nil {
		return nil, err
	}
	b = append(b, `, "exc_module": `...)
	b = appendString(b, module)
	return append(b, '}'), nil
}

// DecodeResult reads a result document; id names the task when the
// document does not (an rpc:// message's correlation id).
func DecodeResult(body []byte, id string) (*Result, error) {
	if r, ok := decodeResultFast(body); ok {
		return r, nil
	}
	return decodeResultSlow(body, id)
}

func decodeResultSlow(body []byte, id string) (*Result, error) {
	var rj resultJSON
	if err := DecodeJSON(body, &rj); err != nil {
		return nil, fmt.Errorf("queue: result message %s: %s", id, jsonErr(err))
	}
	r := &Result{TaskID: rj.TaskID, State: rj.Status, Raw: rj.Result}
	if r.TaskID == "" {
		r.TaskID = id
	}
	if r.TaskID == "" {
		return nil, fmt.Errorf("queue: result message without task_id")
	}
	if rj.Traceback != nil {
		r.Traceback = *rj.Traceback
	}
	switch r.State {
	case StateFailure, StateRevoked, StateRetry:
		var ej excJSON
		if err := DecodeJSON(rj.Result, &ej); err != nil || ej.Type == "" {
			// Not an exception dict: keep the value as text.
			r.Err = &RemoteError{Type: "Exception", Module: "builtins", Message: []any{string(rj.Result)}}
		} else {
			r.Err = &RemoteError{Type: ej.Type, Module: ej.Module}
			switch x := ej.Message.(type) {
			case []any:
				r.Err.Message = x
			case nil:
			default:
				r.Err.Message = []any{x}
			}
		}
		r.Err.Traceback = r.Traceback
		r.Err.State = r.State
	case StateSuccess, StateStarted:
		if len(rj.Result) > 0 {
			if err := DecodeJSON(rj.Result, &r.Value); err != nil {
				return nil, fmt.Errorf("queue: result of %s: %s", r.TaskID, jsonErr(err))
			}
		}
	case "":
		return nil, fmt.Errorf("queue: result message for %s without status", r.TaskID)
	}
	return r, nil
}
