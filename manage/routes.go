package manage

import "net/http"

// routes is the API: every path and method served, and the handler each
// runs. docs/openapi.yaml describes exactly these (TestOpenAPIMatchesRoutes).
func (s *Server) routes() []route {
	get := func(h handler) map[string]handler { return map[string]handler{http.MethodGet: h} }
	return []route{
		{pattern: "/api/login", methods: map[string]handler{http.MethodPost: s.login}, public: true},
		{pattern: "/api/logout", methods: map[string]handler{http.MethodPost: s.logout}},
		{pattern: "/api/whoami", methods: get(s.whoami)},
		{pattern: "/api/overview", methods: get(s.overview)},
		{pattern: "/api/nodes", methods: get(s.nodes)},
		{pattern: "/api/connections", methods: get(s.connections)},
		{pattern: "/api/connections/{name}", methods: map[string]handler{http.MethodDelete: s.closeConnection}},

		{pattern: "/api/queues", methods: get(s.listQueues)},
		{pattern: "/api/queues/{vhost}", methods: get(s.listQueues)},
		{pattern: "/api/queues/{vhost}/{name}", methods: map[string]handler{
			http.MethodGet: s.getQueue, http.MethodPut: s.declareQueue, http.MethodDelete: s.deleteQueue}},
		{pattern: "/api/queues/{vhost}/{name}/contents", methods: map[string]handler{http.MethodDelete: s.purgeQueue}},
		{pattern: "/api/queues/{vhost}/{name}/get", methods: map[string]handler{http.MethodPost: s.getMessages}},
		{pattern: "/api/queues/{vhost}/{name}/bindings", methods: get(s.listBindings)},

		{pattern: "/api/exchanges", methods: get(s.listExchanges)},
		{pattern: "/api/exchanges/{vhost}", methods: get(s.listExchanges)},
		{pattern: "/api/exchanges/{vhost}/{name}", methods: map[string]handler{
			http.MethodGet: s.getExchange, http.MethodPut: s.declareExchange, http.MethodDelete: s.deleteExchange}},
		{pattern: "/api/exchanges/{vhost}/{name}/bindings/source", methods: get(s.listBindings)},
		{pattern: "/api/exchanges/{vhost}/{name}/publish", methods: map[string]handler{http.MethodPost: s.publish}},

		{pattern: "/api/bindings", methods: get(s.listBindings)},
		{pattern: "/api/bindings/{vhost}", methods: get(s.listBindings)},
		{pattern: "/api/bindings/{vhost}/e/{source}/{kind}/{destination}", methods: map[string]handler{http.MethodPost: s.bind}},
		{pattern: "/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}", methods: map[string]handler{http.MethodDelete: s.unbind}},

		{pattern: "/api/users", methods: get(s.listUsers)},
		{pattern: "/api/users/{name}", methods: map[string]handler{
			http.MethodGet: s.getUser, http.MethodPut: s.putUser, http.MethodDelete: s.deleteUser}},
		{pattern: "/api/vhosts", methods: get(s.listVHosts)},
		{pattern: "/api/vhosts/{name}", methods: map[string]handler{
			http.MethodGet: s.getVHost, http.MethodPut: s.putVHost, http.MethodDelete: s.deleteVHost}},
		{pattern: "/api/permissions", methods: get(s.listPermissions)},
		{pattern: "/api/permissions/{vhost}/{user}", methods: map[string]handler{
			http.MethodGet: s.getPermission, http.MethodPut: s.putPermission, http.MethodDelete: s.deletePermission}},
	}
}

// Routes lists the served API paths and their methods (for the OpenAPI
// test and documentation).
func Routes() map[string][]string {
	s := &Server{}
	out := map[string][]string{}
	for _, rt := range s.routes() {
		for m := range rt.methods {
			out[rt.pattern] = append(out[rt.pattern], m)
		}
	}
	out["/api/openapi.yaml"] = []string{http.MethodGet}
	return out
}
