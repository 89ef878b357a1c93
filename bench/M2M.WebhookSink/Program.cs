using System.Text.Json;

// A webhook receiver that does what a fast real one does: reads the body, parses the JSON batch,
// counts its items and answers 200. GET /stats → {"items","deliveries"}. Usage: M2M.WebhookSink --urls http://127.0.0.1:PORT
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
long items = 0, deliveries = 0;
app.MapPost("/hook", async (HttpRequest request) =>
{
    using var buffer = new MemoryStream();
    await request.Body.CopyToAsync(buffer);
    var count = 0;
    var reader = new Utf8JsonReader(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    var depth = -1;
    while (reader.Read())
    {
        if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("items"u8))
        {
            reader.Read();
            depth = reader.CurrentDepth;
        }
        else if (reader.TokenType == JsonTokenType.StartObject && depth >= 0 && reader.CurrentDepth == depth + 1)
        {
            count++;
            reader.Skip();
        }
    }
    Interlocked.Add(ref items, count);
    Interlocked.Increment(ref deliveries);
    return Results.Ok();
});
app.MapGet("/stats", () => Results.Json(new { items = Interlocked.Read(ref items), deliveries = Interlocked.Read(ref deliveries) }));
app.Run();
