using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// <c>/openapi/v1.json</c> of the started server is complete enough to generate a client: checked
/// property by property for every operation (not against a snapshot), and against the server's
/// own endpoints and behaviour.
/// </summary>
[Collection(ApiCollection.Name)]
public partial class OpenApiTests(ApiFixture fixture)
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options"];

    private static readonly (string Method, string Path)[] Anonymous =
        [("post", "/api/auth/token"), ("post", "/api/auth/refresh"), ("post", "/api/auth/logout")];

    private async Task<JsonElement> DocumentAsync()
    {
        var response = await fixture.Host.Anonymous.GetAsync("/openapi/v1.json", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }

    private static IEnumerable<(string Method, string Path, JsonElement Operation)> Operations(JsonElement document)
    {
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var item in path.Value.EnumerateObject())
            {
                if (Methods.Contains(item.Name))
                {
                    yield return (item.Name, path.Name, item.Value);
                }
            }
        }
    }

    private static bool Declares(JsonElement operation, string status) => operation.GetProperty("responses").TryGetProperty(status, out _);

    [Fact]
    public async Task Document_has_a_title_a_description_and_both_credential_schemes()
    {
        var document = await DocumentAsync();
        var info = document.GetProperty("info");
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");

        Assert.StartsWith("3.", document.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.Equal("M2M platform API", info.GetProperty("title").GetString());
        Assert.True(info.GetProperty("description").GetString()!.Length > 50);
        Assert.Equal("bearer", schemes.GetProperty("Bearer").GetProperty("scheme").GetString());
        Assert.Equal("bearer", schemes.GetProperty("ApiKey").GetProperty("scheme").GetString());
        Assert.StartsWith("m2mk_", schemes.GetProperty("ApiKey").GetProperty("bearerFormat").GetString(), StringComparison.Ordinal);
        Assert.False(document.TryGetProperty("security", out _), "no document-wide requirement: the anonymous routes would inherit it");
    }

    [Fact]
    public async Task Every_operation_has_a_unique_operation_id()
    {
        var ids = Operations(await DocumentAsync())
            .Select(o => (o.Method, o.Path, Id: o.Operation.TryGetProperty("operationId", out var id) ? id.GetString() : null))
            .ToList();

        Assert.All(ids, o => Assert.True(o.Id is not null && OperationId().IsMatch(o.Id), $"{o.Method} {o.Path}: operationId '{o.Id}'"));
        Assert.Equal(ids.Count, ids.Select(o => o.Id).Distinct(StringComparer.Ordinal).Count());
    }

    [GeneratedRegex("^[a-z][A-Za-z0-9]*$")]
    private static partial Regex OperationId();

    [Fact]
    public async Task Every_api_endpoint_of_the_server_is_in_the_document()
    {
        var documented = Operations(await DocumentAsync()).Select(o => (o.Method, Path: Regex.Replace(o.Path, @"\{[^}]+\}", "{}"))).ToHashSet();
        var missing = new List<string>();

        foreach (var endpoint in fixture.Host.App.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>())
        {
            var pattern = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
            if (!pattern.StartsWith("/api/", StringComparison.Ordinal))
            {
                continue;
            }
            var normalised = Regex.Replace(pattern.TrimEnd('/'), @"\{[^}]+\}", "{}");
            foreach (var method in endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
            {
                if (!documented.Contains((method.ToLowerInvariant(), normalised)))
                {
                    missing.Add($"{method} {pattern}");
                }
            }
        }

        Assert.Empty(missing);
    }

    [Fact]
    public async Task Anonymous_routes_have_no_security_requirement_and_the_others_accept_both_credentials()
    {
        var failures = new List<string>();
        foreach (var (method, path, operation) in Operations(await DocumentAsync()))
        {
            var anonymous = Anonymous.Contains((method, path));
            var hasSecurity = operation.TryGetProperty("security", out var security) && security.GetArrayLength() > 0;
            if (anonymous && hasSecurity)
            {
                failures.Add($"{method} {path} is anonymous but requires a credential");
            }
            if (!anonymous)
            {
                var schemes = hasSecurity ? security.EnumerateArray().SelectMany(r => r.EnumerateObject().Select(p => p.Name)).ToHashSet() : [];
                if (!schemes.SetEquals(["Bearer", "ApiKey"]))
                {
                    failures.Add($"{method} {path} accepts [{string.Join(", ", schemes)}]");
                }
                if (!Declares(operation, "401"))
                {
                    failures.Add($"{method} {path} does not declare 401");
                }
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public async Task Forbidden_not_found_and_too_many_requests_are_declared_where_they_occur()
    {
        var document = await DocumentAsync();
        var adminOnly = fixture.Host.App.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy == ApiExtensions.AdminPolicy))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(m => (m.ToLowerInvariant(), Regex.Replace("/" + e.RoutePattern.RawText!.Trim('/'), @"\{\*\*([^}]+)\}", "{$1}"))))
            .ToHashSet();
        var failures = new List<string>();

        foreach (var (method, path, operation) in Operations(document))
        {
            var anonymous = Anonymous.Contains((method, path));
            if (adminOnly.Contains((method, path)) && !Declares(operation, "403"))
            {
                failures.Add($"{method} {path}: admin only, no 403");
            }
            if (!anonymous && method is not "get" and not "head" && !Declares(operation, "403"))
            {
                failures.Add($"{method} {path}: a read-only key is refused, no 403");
            }
            if (Regex.IsMatch(path, @"\{(id|commandId|ident|name)\}") && !Declares(operation, "404") && !(method == "put" && path.StartsWith("/api/firmware/", StringComparison.Ordinal)))
            {
                failures.Add($"{method} {path}: has an id, no 404");
            }
        }

        Assert.True(adminOnly.Count >= 20, $"only {adminOnly.Count} admin-only operations found");
        Assert.Empty(failures);
        Assert.True(Declares(document.GetProperty("paths").GetProperty("/api/auth/token").GetProperty("post"), "429"));
    }

    [Fact]
    public async Task Every_error_answer_is_a_problem_document_and_every_operation_has_a_success_answer()
    {
        var failures = new List<string>();
        foreach (var (method, path, operation) in Operations(await DocumentAsync()))
        {
            var responses = operation.GetProperty("responses").EnumerateObject().ToList();
            if (!responses.Any(r => r.Name.StartsWith('2')))
            {
                failures.Add($"{method} {path}: no 2xx answer");
            }
            foreach (var response in responses.Where(r => r.Name.StartsWith('4') && r.Name is not "416"))
            {
                if (!response.Value.TryGetProperty("content", out var content) || !content.TryGetProperty("application/problem+json", out var problem)
                    || !problem.GetProperty("schema").TryGetProperty("$ref", out _))
                {
                    failures.Add($"{method} {path} {response.Name}: not a problem document");
                }
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public async Task Every_numeric_parameter_and_body_field_has_bounds()
    {
        var document = await DocumentAsync();
        var failures = new List<string>();
        var limits = 0;

        foreach (var (method, path, operation) in Operations(document))
        {
            foreach (var parameter in operation.TryGetProperty("parameters", out var ps) ? ps.EnumerateArray() : Enumerable.Empty<JsonElement>())
            {
                var name = parameter.GetProperty("name").GetString();
                var schema = parameter.GetProperty("schema");
                if (name == "limit")
                {
                    limits++;
                    if (schema.GetProperty("type").ValueKind != JsonValueKind.String || schema.GetProperty("type").GetString() != "integer")
                    {
                        failures.Add($"{method} {path} limit: type {schema.GetProperty("type")}");
                    }
                }
                if (IsNumeric(schema) && !(schema.TryGetProperty("minimum", out _) && schema.TryGetProperty("maximum", out _)))
                {
                    failures.Add($"{method} {path} {name}: no bounds");
                }
            }
        }
        foreach (var schema in document.GetProperty("components").GetProperty("schemas").EnumerateObject())
        {
            if (!schema.Name.EndsWith("Request", StringComparison.Ordinal) || !schema.Value.TryGetProperty("properties", out var properties))
            {
                continue;
            }
            foreach (var property in properties.EnumerateObject())
            {
                if (IsNumeric(property.Value) && !(property.Value.TryGetProperty("minimum", out _) && property.Value.TryGetProperty("maximum", out _)))
                {
                    failures.Add($"{schema.Name}.{property.Name}: no bounds");
                }
            }
        }

        Assert.True(limits >= 6, $"only {limits} limit parameters");
        Assert.Empty(failures);
    }

    private static bool IsNumeric(JsonElement schema)
    {
        if (!schema.TryGetProperty("type", out var type))
        {
            return false;
        }
        var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()) : [type.GetString()];
        return types.Any(t => t is "integer" or "number");
    }

    [Fact]
    public async Task Documented_limit_bounds_are_the_enforced_ones()
    {
        var document = await DocumentAsync();
        var checkedRoutes = 0;

        foreach (var (method, path, operation) in Operations(document))
        {
            if (method != "get" || path.Contains('{') || !operation.TryGetProperty("parameters", out var ps))
            {
                continue;
            }
            var limit = ps.EnumerateArray().FirstOrDefault(p => p.GetProperty("name").GetString() == "limit");
            if (limit.ValueKind == JsonValueKind.Undefined)
            {
                continue;
            }
            var max = limit.GetProperty("schema").GetProperty("maximum").GetInt32();
            var min = limit.GetProperty("schema").GetProperty("minimum").GetInt32();

            Assert.Equal(HttpStatusCode.OK, (await fixture.Admin.GetAsync($"{path}?limit={max}", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await fixture.Admin.GetAsync($"{path}?limit={min}", Ct)).StatusCode);
            await (await fixture.Admin.GetAsync($"{path}?limit={max + 1}", Ct)).AssertProblemAsync(400, "limit");
            await (await fixture.Admin.GetAsync($"{path}?limit={min - 1}", Ct)).AssertProblemAsync(400, "limit");
            checkedRoutes++;
        }

        Assert.True(checkedRoutes >= 4, $"only {checkedRoutes} list routes checked");
    }

    [Fact]
    public async Task Document_reads_back_without_errors_and_passes_the_openapi_validation_rules()
    {
        var text = await fixture.Host.Anonymous.GetStringAsync("/openapi/v1.json", Ct);

        // The reader and rule set that client generators built on Microsoft.OpenApi (Kiota, NSwag's successors) use.
        var result = Microsoft.OpenApi.OpenApiDocument.Parse(text, "json");
        var errors = Microsoft.OpenApi.OpenApiElementExtensions.Validate(result.Document!, Microsoft.OpenApi.ValidationRuleSet.GetDefaultRuleSet());

        Assert.Empty(result.Diagnostic!.Errors.Select(e => e.ToString()));
        Assert.Empty(errors.Select(e => e.ToString()));
        Assert.Equal(Operations(await DocumentAsync()).Count(), result.Document!.Paths.Sum(p => p.Value.Operations?.Count ?? 0));
    }

    [Theory]
    [InlineData("GET", "api/devices/{id}/data", "getDevicesByIdData")]
    [InlineData("POST", "api/devices/{id}/records-live", "postDevicesByIdRecordsLive")]
    [InlineData("PUT", "api/files/{**path}", "putFilesByPath")]
    [InlineData("DELETE", "api/devices", "deleteDevices")]
    public void Routes_without_a_name_get_a_derived_operation_id(string method, string route, string expected)
    {
        var id = M2M.Api.OpenApi.ApiOperationTransformer.DerivedId(method, route);

        Assert.Equal(expected, id);
        Assert.Matches(OperationId(), id);
    }

    [Fact]
    public async Task Every_reference_resolves()
    {
        var document = await DocumentAsync();
        var unresolved = new List<string>();

        void Walk(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        if (property.Name == "$ref")
                        {
                            var target = property.Value.GetString()!;
                            var node = document;
                            foreach (var part in target.TrimStart('#', '/').Split('/'))
                            {
                                if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(part, out node))
                                {
                                    unresolved.Add(target);
                                    break;
                                }
                            }
                        }
                        else
                        {
                            Walk(property.Value);
                        }
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        Walk(item);
                    }
                    break;
            }
        }
        Walk(document);

        Assert.Empty(unresolved);
    }
}
