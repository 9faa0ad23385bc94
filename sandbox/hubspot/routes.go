package hubspot

import "net/http"

// routes registers every endpoint; the patterns are also the keys of Calls.
func (s *Server) routes() {
	m := http.NewServeMux()
	s.mux = m

	// CRM objects v3.
	m.HandleFunc("GET /crm/v3/objects/{objectType}", s.handleList)
	m.HandleFunc("POST /crm/v3/objects/{objectType}", s.handleCreate)
	m.HandleFunc("GET /crm/v3/objects/{objectType}/{objectId}", s.handleGet)
	m.HandleFunc("PATCH /crm/v3/objects/{objectType}/{objectId}", s.handlePatch)
	m.HandleFunc("DELETE /crm/v3/objects/{objectType}/{objectId}", s.handleDelete)
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/read", s.handleBatchRead)
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/create", s.handleBatchCreate)
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/update", s.handleBatchUpdate)
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/upsert", s.handleBatchUpsert)
	m.HandleFunc("POST /crm/v3/objects/{objectType}/batch/archive", s.handleBatchArchive)
	m.HandleFunc("POST /crm/v3/objects/{objectType}/search", s.handleSearch)

	// Custom object schemas, under both prefixes HubSpot serves.
	for _, p := range []string{"/crm-object-schemas/v3/schemas", "/crm/v3/schemas"} {
		m.HandleFunc("GET "+p, s.handleListSchemas)
		m.HandleFunc("POST "+p, s.handleCreateSchema)
		m.HandleFunc("GET "+p+"/{objectType}", s.handleGetSchema)
		m.HandleFunc("PATCH "+p+"/{objectType}", s.handlePatchSchema)
		m.HandleFunc("DELETE "+p+"/{objectType}", s.handleDeleteSchema)
		m.HandleFunc("POST "+p+"/{objectType}/associations", s.handleCreateSchemaAssociation)
	}

	// Properties and property groups.
	m.HandleFunc("GET /crm/v3/properties/{objectType}", s.handleListProperties)
	m.HandleFunc("POST /crm/v3/properties/{objectType}", s.handleCreateProperty)
	m.HandleFunc("GET /crm/v3/properties/{objectType}/{propertyName}", s.handleGetProperty)
	m.HandleFunc("PATCH /crm/v3/properties/{objectType}/{propertyName}", s.handlePatchProperty)
	m.HandleFunc("DELETE /crm/v3/properties/{objectType}/{propertyName}", s.handleDeleteProperty)
	m.HandleFunc("POST /crm/v3/properties/{objectType}/batch/create", s.handleBatchCreateProperties)
	m.HandleFunc("POST /crm/v3/properties/{objectType}/batch/read", s.handleBatchReadProperties)
	m.HandleFunc("POST /crm/v3/properties/{objectType}/batch/archive", s.handleBatchArchiveProperties)
	m.HandleFunc("GET /crm/v3/properties/{objectType}/groups", s.handleListGroups)
	m.HandleFunc("POST /crm/v3/properties/{objectType}/groups", s.handleCreateGroup)
	m.HandleFunc("GET /crm/v3/properties/{objectType}/groups/{groupName}", s.handleGetGroup)

	// Associations v4.
	m.HandleFunc("PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}", s.handleAssocDefault)
	m.HandleFunc("PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}/{toObjectId}", s.handleAssocLabelled)
	m.HandleFunc("DELETE /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}/{toObjectId}", s.handleAssocDelete)
	m.HandleFunc("GET /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}", s.handleAssocList)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create", s.handleAssocBatchCreate)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default", s.handleAssocBatchDefault)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read", s.handleAssocBatchRead)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive", s.handleAssocBatchArchive)
	m.HandleFunc("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive", s.handleAssocBatchLabelsArchive)
	m.HandleFunc("GET /crm/v4/associations/{fromObjectType}/{toObjectType}/labels", s.handleAssocLabels)

	// Owners, forms, account, OAuth.
	m.HandleFunc("GET /crm/v3/owners", s.handleListOwners)
	m.HandleFunc("GET /crm/v3/owners/{$}", s.handleListOwners)
	m.HandleFunc("GET /crm/v3/owners/{ownerId}", s.handleGetOwner)
	m.HandleFunc("GET /form-integrations/v1/submissions/forms/{formGuid}", s.handleFormSubmissions)
	m.HandleFunc("GET /account-info/v3/details", s.handleAccountDetails)
	m.HandleFunc("GET /account-info/v3/api-usage/daily/private-apps", s.handleDailyUsage)
	m.HandleFunc("POST /oauth/v1/token", s.handleToken)
	m.HandleFunc("GET /oauth/v1/access-tokens/{token}", s.handleAccessTokenInfo)
}
