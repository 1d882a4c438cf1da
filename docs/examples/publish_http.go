// Publishes one event with POST /v1/publish: Go's standard library only.
//
//	TAILGATE_URL=http://127.0.0.1:8080 TAILGATE_TOKEN=... go run publish_http.go orders.42 '{"n":1}'
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	url := os.Getenv("TAILGATE_URL")
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	body, _ := json.Marshal(map[string]string{
		"topic": os.Args[1], "type": "created", "data": os.Args[2],
		"idempotency_key": os.Args[1] + "-created",
	})
	req, _ := http.NewRequest("POST", url+"/v1/publish", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token := os.Getenv("TAILGATE_TOKEN"); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // Not sent, or no answer: retry with the same idempotency_key.
		os.Exit(1)
	}
	defer res.Body.Close()
	var out struct {
		ID        uint64 `json:"id"`
		Duplicate bool   `json:"duplicate"`
		Error     *struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != http.StatusOK {
		if out.Error != nil { // {"error":{"code":"INVALID_ARGUMENT","message":"topic: ..."}}
			fmt.Fprintln(os.Stderr, res.Status, out.Error.Code, out.Error.Message)
		} else {
			fmt.Fprintln(os.Stderr, res.Status)
		}
		os.Exit(1)
	}
	fmt.Println("id", out.ID, "duplicate", out.Duplicate)
}
