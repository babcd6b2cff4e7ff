/* Unit tests: AWS Signature Version 4 (src/llm/sigv4.c).
 *
 * The vectors below are AWS's SigV4 test suite as awslabs/aws-c-auth
 * carries it (tests/aws-signing-test-suite/v4/<case>/: request.txt,
 * header-canonical-request.txt, header-string-to-sign.txt,
 * header-signature.txt; commit 495329c), copied as data: every case that
 * applies to header signing for services other than S3, except
 * get-header-value-multiline (obsolete header folding, which curl never
 * sends) and post-sts-header-after (a token added after signing). All use
 * AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1,
 * service "service", 2015-08-30T12:36:00Z.
 *
 * The Bedrock cases were computed with botocore 1.43.11 (SigV4Auth,
 * service "bedrock"), an implementation independent of this one: a
 * converse-stream request whose model id holds ':' (%3A in the path,
 * %253A in the canonical request), with and without a session token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm/sigv4.h"
#include "util/err.h"

#define SUITE_TIME 1440938160 /* 2015-08-30T12:36:00Z */
#define SUITE_KEY "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

struct vector {
	const char *name;
	bool normalize, sign_body;
	const char *token;
	const char *request;  /* request.txt */
	const char *creq;     /* header-canonical-request.txt */
	const char *sts;      /* header-string-to-sign.txt */
	const char *signature;
};

static const struct vector vectors[] = {
	{ "get-vanilla", true, false, NULL,
		"GET / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-vanilla-query", true, false, NULL,
		"GET / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-vanilla-empty-query-key", true, false, NULL,
		"GET /?Param1=value1 HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"Param1=value1\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
		"a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb" },
	{ "get-vanilla-query-order-key-case", true, false, NULL,
		"GET /?Param2=value2&Param1=value1 HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"Param1=value1&Param2=value2\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
		"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
	{ "get-vanilla-query-order-encoded", true, false, NULL,
		"GET /?Param-3=Value3&Param=Value2&%E1%88%B4=Value1 HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"%E1%88%B4=Value1&Param=Value2&Param-3=Value3\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
		"371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac" },
	{ "get-vanilla-query-unreserved", true, false, NULL,
		"GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
		"9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197" },
	{ "get-vanilla-utf8-query", true, false, NULL,
		"GET /?\341\210\264=bar HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"%E1%88%B4=bar\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
		"2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04" },
	{ "get-unreserved", true, false, NULL,
		"GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
		"07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f" },
	{ "get-utf8", true, false, NULL,
		"GET /\341\210\264 HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/%E1%88%B4\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
		"8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85" },
	{ "get-space-normalized", true, false, NULL,
		"GET /example space/ HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/example%20space/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
		"652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741" },
	{ "get-space-unnormalized", false, false, NULL,
		"GET /example space/ HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/example%20space/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
		"652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741" },
	{ "get-relative-normalized", true, false, NULL,
		"GET /example/.. HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-relative-unnormalized", false, false, NULL,
		"GET /example/.. HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/example/..\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"0511f456aa502b456d135fcb9d749374a55228f9dbeedda1eacf659e05b0615b",
		"eca7ead57bb5aa5c8e28007acd4ff04e1ff9a0ff3b237ec1554a184887ff9282" },
	{ "get-relative-relative-normalized", true, false, NULL,
		"GET /example1/example2/../.. HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-relative-relative-unnormalized", false, false, NULL,
		"GET /example1/example2/../.. HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/example1/example2/../..\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"76115030c0f3ff06c20fdff5ceb6d5e0b835a1743e00b94fea7c7f381269437b",
		"dc33e0856fd4baca4d7aa2146c38958283844764f38c74252a333df5e613003b" },
	{ "get-slash-normalized", true, false, NULL,
		"GET // HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-slash-unnormalized", false, false, NULL,
		"GET // HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"//\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"80cb39203d058af815de2b79250ff56e1b73eb9b4718c86556cdc6f150c5d209",
		"c88bcd3d312d75078c0cd961d6deae3f4c754924b01669efcfcb439fd5e5b76e" },
	{ "get-slash-dot-slash-normalized", true, false, NULL,
		"GET /./ HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-slash-dot-slash-unnormalized", false, false, NULL,
		"GET /./ HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/./\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"d67825e2268bd77a97c7688b8d72c31a3c1855b309808505ba0a9747d2465aa7",
		"68714168e6557f8f2de0ef956fc24dc2593a4bd2961f8df51898d8a134695145" },
	{ "get-slash-pointless-dot-normalized", true, false, NULL,
		"GET /./example HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/example\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
		"ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5" },
	{ "get-slash-pointless-dot-unnormalized", false, false, NULL,
		"GET /./example HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/./example\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"73895e0e829507e28e39fd24669aedc2434a8e179e547e3c075b42921f952cdb",
		"beb03f223f7deae4146464f06e29eebbee9c8afbe15c290cf07aa8b119e14cff" },
	{ "get-slashes-normalized", true, false, NULL,
		"GET //example// HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/example/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
		"9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84" },
	{ "get-slashes-unnormalized", false, false, NULL,
		"GET //example// HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"//example//\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"528ec3105ee1f34ab014bb0a1a45da0ed2742a4fea3555149e5b4d5d201eb240",
		"87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5" },
	{ "get-header-key-duplicate", true, false, NULL,
		"GET / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"My-Header1:value2\n"
		"My-Header1:value2\n"
		"My-Header1:value1\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"my-header1:value2,value2,value1\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;my-header1;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
		"c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea" },
	{ "get-header-value-order", true, false, NULL,
		"GET / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"My-Header1:value4\n"
		"My-Header1:value1\n"
		"My-Header1:value3\n"
		"My-Header1:value2\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"my-header1:value4,value1,value3,value2\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;my-header1;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
		"08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01" },
	{ "get-header-value-trim", true, false, NULL,
		"GET / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"My-Header1: value1\n"
		"My-Header2: \"a   b   c\"\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"my-header1:value1\n"
		"my-header2:\"a b c\"\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;my-header1;my-header2;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
		"acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736" },
	{ "get-vanilla-with-session-token", true, false, "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
		"GET / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"GET\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n"
		"\n"
		"host;x-amz-date;x-amz-security-token\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
		"07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8" },
	{ "post-header-key-case", true, false, NULL,
		"POST / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"POST\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
		"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
	{ "post-header-key-sort", true, false, NULL,
		"POST / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"My-Header1:value1\n"
		"",
		"POST\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"my-header1:value1\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;my-header1;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
		"c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c" },
	{ "post-header-value-case", true, false, NULL,
		"POST / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"My-Header1:VALUE1\n"
		"",
		"POST\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"my-header1:VALUE1\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;my-header1;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
		"cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d" },
	{ "post-sts-header-before", true, false, "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==",
		"POST / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"POST\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"x-amz-security-token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\n"
		"\n"
		"host;x-amz-date;x-amz-security-token\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
		"85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
	{ "post-vanilla", true, false, NULL,
		"POST / HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"POST\n"
		"/\n"
		"\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
		"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
	{ "post-vanilla-query", true, false, NULL,
		"POST /?Param1=value1 HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"POST\n"
		"/\n"
		"Param1=value1\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
		"28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11" },
	{ "post-vanilla-empty-query-value", true, false, NULL,
		"POST /?Param1=value1 HTTP/1.1\n"
		"Host:example.amazonaws.com\n"
		"",
		"POST\n"
		"/\n"
		"Param1=value1\n"
		"host:example.amazonaws.com\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"host;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
		"28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11" },
	{ "post-x-www-form-urlencoded", true, true, NULL,
		"POST / HTTP/1.1\n"
		"Content-Type:application/x-www-form-urlencoded\n"
		"Host:example.amazonaws.com\n"
		"Content-Length:13\n"
		"\n"
		"Param1=value1",
		"POST\n"
		"/\n"
		"\n"
		"content-length:13\n"
		"content-type:application/x-www-form-urlencoded\n"
		"host:example.amazonaws.com\n"
		"x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
		"9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
		"d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b" },
	{ "post-x-www-form-urlencoded-parameters", true, true, NULL,
		"POST / HTTP/1.1\n"
		"Content-Type:application/x-www-form-urlencoded; charset=utf-8\n"
		"Host:example.amazonaws.com\n"
		"Content-Length:13\n"
		"\n"
		"Param1=value1",
		"POST\n"
		"/\n"
		"\n"
		"content-length:13\n"
		"content-type:application/x-www-form-urlencoded; charset=utf-8\n"
		"host:example.amazonaws.com\n"
		"x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
		"x-amz-date:20150830T123600Z\n"
		"\n"
		"content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
		"9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
		"AWS4-HMAC-SHA256\n"
		"20150830T123600Z\n"
		"20150830/us-east-1/service/aws4_request\n"
		"a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d",
		"328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422" },
};

/* A parsed request.txt: "METHOD PATH HTTP/1.1", "Name:value" lines, a
 * blank line, the body. Buffers live in the struct. */
struct parsed {
	char text[4096];
	const char *method, *path, *query, *body;
	struct parley_sigv4_header h[32];
	size_t nh;
};

static void parse_request(const char *req, struct parsed *p)
{
	memset(p, 0, sizeof *p);
	snprintf(p->text, sizeof p->text, "%s", req);
	char *line = p->text;
	char *eol = strchr(line, '\n');
	assert_non_null(eol);
	*eol = '\0';
	char *sp = strchr(line, ' ');
	char *proto = strrchr(line, ' '); /* paths may hold spaces */
	assert_true(sp && proto && proto > sp);
	*sp = '\0';
	*proto = '\0';
	p->method = line;
	p->path = sp + 1;
	char *q = strchr(sp + 1, '?');
	if (q) {
		*q = '\0';
		p->query = q + 1;
	}
	p->body = "";
	for (line = eol + 1; *line;) {
		eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		if (!*line) { /* blank line: the body follows */
			p->body = eol ? eol + 1 : "";
			break;
		}
		char *colon = strchr(line, ':');
		assert_non_null(colon);
		*colon = '\0';
		assert_true(p->nh < 32);
		p->h[p->nh].name = line;
		p->h[p->nh++].value = colon + 1;
		if (!eol)
			break;
		line = eol + 1;
	}
}

static void suite_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		const struct vector *v = &vectors[i];
		struct parsed p;
		parse_request(v->request, &p);
		struct parley_sigv4_params sp = {
			.method = p.method,
			.path = p.path,
			.query = p.query,
			.headers = p.h,
			.nheaders = p.nh,
			.body = p.body,
			.body_len = strlen(p.body),
			.sign_body = v->sign_body,
			.normalize_path = v->normalize,
			.region = "us-east-1",
			.service = "service",
			.access_key_id = SUITE_KEY,
			.secret_access_key = SUITE_SECRET,
			.session_token = v->token,
			.when = SUITE_TIME,
		};
		struct parley_sigv4_result r;
		assert_int_equal(parley_sigv4_sign(&sp, &r), 0);
		if (strcmp(r.canonical_request, v->creq) != 0)
			fail_msg("%s: canonical request\n--- got\n%s\n--- want\n%s", v->name,
				 r.canonical_request, v->creq);
		if (strcmp(r.string_to_sign, v->sts) != 0)
			fail_msg("%s: string to sign\n--- got\n%s\n--- want\n%s", v->name,
				 r.string_to_sign, v->sts);
		if (strcmp(r.signature, v->signature) != 0)
			fail_msg("%s: signature %s, want %s", v->name, r.signature, v->signature);
		assert_string_equal(r.amz_date, "20150830T123600Z");
		parley_sigv4_result_free(&r);
	}
}

/* The Authorization header the suite's header-signed-request.txt shows. */
static void authorization_header(void **state)
{
	(void)state;
	const struct parley_sigv4_header h[] = { { "Host", "example.amazonaws.com" } };
	struct parley_sigv4_params sp = {
		.method = "GET", .path = "/", .headers = h, .nheaders = 1,
		.normalize_path = true, .region = "us-east-1", .service = "service",
		.access_key_id = SUITE_KEY, .secret_access_key = SUITE_SECRET, .when = SUITE_TIME,
	};
	struct parley_sigv4_result r;
	assert_int_equal(parley_sigv4_sign(&sp, &r), 0);
	assert_string_equal(r.authorization,
			    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
			    "aws4_request, SignedHeaders=host;x-amz-date, Signature="
			    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	parley_sigv4_result_free(&r);
}

/* A Bedrock converse-stream request, as bedrock.c signs it. */
static void bedrock_converse_stream(void **state)
{
	(void)state;
	static const char body[] =
		"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}],"
		"\"inferenceConfig\":{\"maxTokens\":64,\"temperature\":0.5},"
		"\"system\":[{\"text\":\"Be brief.\"}]}";
	static const struct {
		const char *token, *creq, *authorization;
	} want[] = {
		{ NULL,
		  "POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse-stream\n\n"
		  "content-type:application/json\nhost:bedrock-runtime.us-west-2.amazonaws.com\n"
		  "x-amz-date:20250601T093005Z\n\ncontent-type;host;x-amz-date\n"
		  "df9fa730958ca72aa4e45c1c91e9bfd0c27b6760260fbc9b83cf8c0317ed13e0",
		  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250601/us-west-2/bedrock/"
		  "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
		  "aea8ed229c24df85a90efcb930ee60b3e99b3d996fe75234e15e4ace9fcae49f" },
		{ "IQoJb3JpZ2luX2VjEXAMPLETOKEN/+=",
		  "POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse-stream\n\n"
		  "content-type:application/json\nhost:bedrock-runtime.us-west-2.amazonaws.com\n"
		  "x-amz-date:20250601T093005Z\nx-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLETOKEN/+=\n"
		  "\ncontent-type;host;x-amz-date;x-amz-security-token\n"
		  "df9fa730958ca72aa4e45c1c91e9bfd0c27b6760260fbc9b83cf8c0317ed13e0",
		  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250601/us-west-2/bedrock/"
		  "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
		  "Signature=66f34d98aaac366c9bba6b2f101f69dacf54483b4c17ec21976096a35c123cf7" },
	};
	for (size_t i = 0; i < 2; i++) {
		const struct parley_sigv4_header h[] = {
			{ "host", "bedrock-runtime.us-west-2.amazonaws.com" },
			{ "content-type", "application/json" },
		};
		struct parley_sigv4_params sp = {
			.method = "POST",
			.path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
			.headers = h, .nheaders = 2, .body = body, .body_len = strlen(body),
			.normalize_path = true, .region = "us-west-2", .service = "bedrock",
			.access_key_id = "AKIAIOSFODNN7EXAMPLE",
			.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			.session_token = want[i].token,
			.when = 1748770205, /* 2025-06-01T09:30:05Z */
		};
		struct parley_sigv4_result r;
		assert_int_equal(parley_sigv4_sign(&sp, &r), 0);
		assert_string_equal(r.canonical_request, want[i].creq);
		assert_string_equal(r.authorization, want[i].authorization);
		assert_string_equal(r.amz_date, "20250601T093005Z");
		parley_sigv4_result_free(&r);
	}
}

static void uri_encode(void **state)
{
	(void)state;
	struct parley_buf b;
	parley_buf_init(&b, 1024);
	const char id[] = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x-y_z~1";
	assert_int_equal(parley_sigv4_uri_encode(&b, id, strlen(id), false), 0);
	assert_string_equal(parley_buf_str(&b), "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
						"inference-profile%2Fus.x-y_z~1");
	parley_buf_reset(&b);
	assert_int_equal(parley_sigv4_uri_encode(&b, "/a b/\xc3\xa9", 7, true), 0);
	assert_string_equal(parley_buf_str(&b), "/a%20b/%C3%A9");
	parley_buf_free(&b);
}

static void refuses_bad_input(void **state)
{
	(void)state;
	const struct parley_sigv4_header bad[] = { { "Bad:Name", "x" } };
	const struct parley_sigv4_header empty[] = { { "", "x" } };
	struct parley_sigv4_params sp = {
		.method = "GET", .path = "/", .headers = bad, .nheaders = 1,
		.region = "us-east-1", .service = "service", .access_key_id = SUITE_KEY,
		.secret_access_key = SUITE_SECRET, .when = SUITE_TIME,
	};
	struct parley_sigv4_result r;
	assert_int_equal(parley_sigv4_sign(&sp, &r), PARLEY_E_INVAL);
	assert_null(r.authorization);
	sp.headers = empty;
	assert_int_equal(parley_sigv4_sign(&sp, &r), PARLEY_E_INVAL);
	sp.nheaders = 0;
	sp.region = "";
	assert_int_equal(parley_sigv4_sign(&sp, &r), PARLEY_E_INVAL);
	sp.region = "us-east-1";
	sp.access_key_id = NULL;
	assert_int_equal(parley_sigv4_sign(&sp, &r), PARLEY_E_INVAL);
	parley_sigv4_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suite_vectors),
		cmocka_unit_test(authorization_header),
		cmocka_unit_test(bedrock_converse_stream),
		cmocka_unit_test(uri_encode),
		cmocka_unit_test(refuses_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
